// moby's TestParseRepositoryInfo (v28.5.2, `registry/registry_test.go`:
// https://github.com/moby/moby/blob/v28.5.2/registry/registry_test.go): a reference's index
// (name, official, secure) and names, with "secure" from the service configuration's loopback
// rule (DNS mocked).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ServiceConfig } from '../../src/config/index.js';
import { Reference } from '../../src/ref/index.js';

const config = ServiceConfig.create({
  lookup: async (host) => {
    const hosts: Record<string, string[]> = { localhost: ['127.0.0.1', '::1'], 'example.com': ['93.184.216.34'] };
    const found = hosts[host];
    if (found === undefined) throw new Error(`ENOTFOUND ${host}`);
    return found;
  },
});

// input → index name, official, secure, remote name, familiar name, canonical name
type Row = [string, string, boolean, boolean, string, string, string];
const hub = (input: string, remote: string, familiar: string): Row => [input, 'docker.io', true, true, remote, familiar, `docker.io/${remote}`];
const other = (input: string, index: string, secure: boolean, remote: string): Row => [
  input, index, false, secure, remote, `${index}/${remote}`, `${index}/${remote}`,
];

const rows: Row[] = [
  hub('fooo/bar', 'fooo/bar', 'fooo/bar'),
  hub('library/ubuntu', 'library/ubuntu', 'ubuntu'),
  hub('nonlibrary/ubuntu', 'nonlibrary/ubuntu', 'nonlibrary/ubuntu'),
  hub('ubuntu', 'library/ubuntu', 'ubuntu'),
  hub('other/library', 'other/library', 'other/library'),
  other('127.0.0.1:8000/private/moonbase', '127.0.0.1:8000', false, 'private/moonbase'),
  other('127.0.0.1:8000/privatebase', '127.0.0.1:8000', false, 'privatebase'),
  other('[::1]:8000/private/moonbase', '[::1]:8000', false, 'private/moonbase'),
  other('[::1]:8000/privatebase', '[::1]:8000', false, 'privatebase'),
  other('[::2]:8000/private/moonbase', '[::2]:8000', true, 'private/moonbase'),
  other('[::2]:8000/privatebase', '[::2]:8000', true, 'privatebase'),
  other('localhost:8000/private/moonbase', 'localhost:8000', false, 'private/moonbase'),
  other('localhost:8000/privatebase', 'localhost:8000', false, 'privatebase'),
  other('localhost/private/moonbase', 'localhost', false, 'private/moonbase'),
  other('localhost/privatebase', 'localhost', false, 'privatebase'),
  other('example.com/private/moonbase', 'example.com', true, 'private/moonbase'),
  other('example.com/privatebase', 'example.com', true, 'privatebase'),
  other('example.com:8000/private/moonbase', 'example.com:8000', true, 'private/moonbase'),
  other('example.com:8000/privatebase', 'example.com:8000', true, 'privatebase'),
  hub('docker.io/public/moonbase', 'public/moonbase', 'public/moonbase'),
  hub('index.docker.io/public/moonbase', 'public/moonbase', 'public/moonbase'),
  hub('ubuntu-12.04-base', 'library/ubuntu-12.04-base', 'ubuntu-12.04-base'),
  hub('docker.io/ubuntu-12.04-base', 'library/ubuntu-12.04-base', 'ubuntu-12.04-base'),
  hub('index.docker.io/ubuntu-12.04-base', 'library/ubuntu-12.04-base', 'ubuntu-12.04-base'),
];

describe('repository info (moby TestParseRepositoryInfo)', () => {
  for (const [input, indexName, official, secure, remote, familiar, canonical] of rows) {
    test(input, async () => {
      const repo = Reference.parse(input).repository;
      const index = await config.newIndexInfo(repo.domain);
      assert.equal(index.name, indexName);
      assert.equal(index.official, official);
      assert.equal(index.secure, secure);
      assert.equal(repo.path, remote);
      assert.equal(repo.familiar, familiar);
      assert.equal(repo.name, canonical);
    });
  }

  test('only single-level Hub images are official repositories', () => {
    assert.equal(Reference.parse('ubuntu').repository.official, true);
    assert.equal(Reference.parse('fooo/bar').repository.official, false);
    assert.equal(Reference.parse('localhost/ubuntu').repository.official, false);
  });
});
