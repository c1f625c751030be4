/**
 * Host names of credential keys: the CLI's `ConvertToHostname` table from docker/cli's
 * `cli/config/credentials/file_store_test.go`
 * (https://github.com/docker/cli/tree/master/cli/config/credentials) and the daemon's variant;
 * the rules are in docs/docker-rules.md#credentials.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { authConfigKey, convertToHostname, convertToHostnameDaemon, DOCKER_HUB_AUTH_KEY, loginKey } from '../../src/auth/hostname.js';

test('convertToHostname: docker/cli file_store_test table', () => {
  const rows: [string, string][] = [
    ['127.0.0.1', '127.0.0.1'],
    ['::1', '::1'],
    ['[::1]', '[::1]'],
    ['example.com', 'example.com'],
    ['http://example.com', 'example.com'],
    ['https://example.com', 'example.com'],
    ['https://example.com/', 'example.com'],
    ['https://example.com/v2/', 'example.com'],
    ['unix:///var/run/docker.sock', 'unix:'],
    ['ftp://example.com', 'example.com'],
    ['127.0.0.1:6556', '127.0.0.1:6556'],
    ['::1:6556', '::1:6556'],
    ['[::1]:6556', '[::1]:6556'],
    ['example.com:6555', 'example.com:6555'],
    ['https://127.0.0.1:6555/v2/', '127.0.0.1:6555'],
    ['https://::1:6555/v2/', '[::1]:6555'],
    ['https://[::1]:6555/v2/', '[::1]:6555'],
    ['http://example.com:6555', 'example.com:6555'],
    ['https://example.com:6555', 'example.com:6555'],
    ['http://example.com:6555/v2/', 'example.com:6555'],
    ['https://example.com:6555/v2/', 'example.com:6555'],
  ];
  for (const [input, want] of rows) assert.equal(convertToHostname(input), want, input);
});

test('the daemon variant strips only http(s):// and cuts at the first slash', () => {
  assert.equal(convertToHostnameDaemon('https://registry.example.com/v1/'), 'registry.example.com');
  assert.equal(convertToHostnameDaemon('http://localhost:8000/v1/'), 'localhost:8000');
  assert.equal(convertToHostnameDaemon('example.com/v1/'), 'example.com');
  assert.equal(convertToHostnameDaemon('ftp://example.com'), 'ftp:', 'other schemes are not stripped');
  assert.equal(convertToHostname('ftp://example.com'), 'example.com', 'unlike the CLI variant');
});

test('authConfigKey and the login key', () => {
  assert.equal(authConfigKey('docker.io'), DOCKER_HUB_AUTH_KEY);
  assert.equal(authConfigKey('index.docker.io'), DOCKER_HUB_AUTH_KEY);
  assert.equal(authConfigKey('registry-1.docker.io'), 'registry-1.docker.io');
  assert.equal(authConfigKey('localhost:5000'), 'localhost:5000');
  assert.equal(loginKey(undefined), DOCKER_HUB_AUTH_KEY);
  assert.equal(loginKey('docker.io'), DOCKER_HUB_AUTH_KEY);
  assert.equal(loginKey(DOCKER_HUB_AUTH_KEY), DOCKER_HUB_AUTH_KEY);
  assert.equal(loginKey('registry-1.docker.io/bork/test'), 'registry-1.docker.io', 'docker/cli#5382');
  assert.equal(loginKey('https://reg.example:5000/v2/'), 'reg.example:5000');
});
