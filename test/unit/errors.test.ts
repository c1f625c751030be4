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

test('URLs lose user info and every query value that is not a protocol parameter', () => {
  assert.equal(redactUrl('https://user:pw@host/v2/?n=1'), 'https://%5Bredacted%5D@host/v2/?n=1');
  const s3 = redactUrl('https://bucket.s3.amazonaws.com/blob?X-Amz-Signature=abc&X-Amz-Credential=def&x=1');
  assert.ok(!s3.includes('abc') && !s3.includes('def') && !s3.includes('x=1'), s3);
  const azure = redactUrl('https://acct.blob.core.windows.net/c/b?sv=2020&sig=S1G&skoid=OID&api_key=K3Y&Signature=S2');
  for (const secret of ['S1G', 'OID', 'K3Y', 'S2']) assert.ok(!azure.includes(secret), azure);
  const tags = redactUrl('https://host/v2/x/tags/list?n=100&last=v1');
  assert.equal(tags, 'https://host/v2/x/tags/list?n=100&last=v1');
});

test('challenges and locations lose the secrets of their URLs', () => {
  const h = redactHeaders({
    'www-authenticate': 'Bearer realm="http://user:PASS@auth.test/token?token=T0K",service="reg",scope="repository:x:pull"',
    location: '/v2/x/blobs/uploads/1?_state=ST4TE&digest=sha256:abc',
  });
  const text = JSON.stringify(h);
  for (const secret of ['PASS', 'T0K', 'ST4TE']) assert.ok(!text.includes(secret), text);
  assert.ok(text.includes('service=\\"reg\\"') && text.includes('digest=sha256'), text);
});

test('headers lose credential values but keep the scheme', () => {
  const h = redactHeaders({ Authorization: 'Bearer sekrit', 'content-type': 'application/json', cookie: 'a=b' });
  assert.equal(h.Authorization, 'Bearer [redacted]');
  assert.equal(h.cookie, '[redacted]');
  assert.equal(h['content-type'], 'application/json');
});
