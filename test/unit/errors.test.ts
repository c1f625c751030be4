import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, ErrorCode, GantryError, isGantryError } from '../../src/errors.js';
import { redactHeaders, redactUrl } from '../../src/redact.js';

test('errors carry a stable code and keep their cause', () => {
  const cause = new Error('inner');
  const err = new ConfigError('bad option', { cause });
  assert.ok(err instanceof GantryError);
  assert.equal(err.code, ErrorCode.INVALID_CONFIG);
  assert.equal(err.cause, cause);
  assert.equal(err.retryable, false);
  assert.ok(isGantryError(err, 'INVALID_CONFIG'));
  assert.ok(!isGantryError(err, 'TLS'));
});

test('URLs lose user info and credential query parameters', () => {
  assert.equal(redactUrl('https://user:pw@host/v2/?n=1'), 'https://%5Bredacted%5D@host/v2/?n=1');
  const s3 = redactUrl('https://bucket.s3.amazonaws.com/blob?X-Amz-Signature=abc&X-Amz-Credential=def&x=1');
  assert.ok(!s3.includes('abc') && !s3.includes('def'));
  assert.ok(s3.includes('x=1'));
});

test('headers lose credential values but keep the scheme', () => {
  const h = redactHeaders({ Authorization: 'Bearer sekrit', 'content-type': 'application/json', cookie: 'a=b' });
  assert.equal(h.Authorization, 'Bearer [redacted]');
  assert.equal(h.cookie, '[redacted]');
  assert.equal(h['content-type'], 'application/json');
});
