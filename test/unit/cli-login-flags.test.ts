/**
 * docker login's flag table (docker/cli `cli/command/registry/login_test.go`) and its stdin
 * rule: one trailing line ending removed (docs/docker-rules.md#login-and-logout).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { checkLoginFlags, readSecretFromStdin } from '../../src/cli/commands/login.js';
import { loginRegistryHost } from '../../src/login/login.js';

describe('login flags', () => {
  const rows: [string, Parameters<typeof checkLoginFlags>[0], string | 'stdin' | 'flag' | 'none'][] = [
    ['--password-stdin', { passwordStdin: true }, 'the --password-stdin option requires --username to be set'],
    ['--password-stdin --username ""', { passwordStdin: true, username: '' }, 'username is empty'],
    ['--username ""', { username: '' }, 'username is empty'],
    ['--password-stdin --password ""', { passwordStdin: true, password: '' }, 'conflicting options: cannot specify both --password and --password-stdin'],
    ['--password -', { password: '-' }, 'the --password-stdin option requires --username to be set'],
    ['--password ""', { password: '' }, 'password is empty'],
    ['--password-stdin --username u --password -', { passwordStdin: true, username: 'u', password: '-' }, 'stdin'],
    ['-u u -p secret', { username: 'u', password: 'secret' }, 'flag'],
    ['(nothing)', {}, 'none'],
  ];
  for (const [args, flags, want] of rows) {
    test(args, () => {
      if (want === 'stdin' || want === 'flag' || want === 'none') assert.equal(checkLoginFlags(flags), want);
      else assert.throws(() => checkLoginFlags(flags), (err: Error & { code?: string }) => err.message === want && err.code === 'USAGE');
    });
  }
});

describe('password from stdin', () => {
  const rows: [string, string][] = [
    ['my password\r\n', 'my password'],
    ['  my password with spaces  \r\n', '  my password with spaces  '],
    ['  my password\nwith spaces  \r\n\r\n', '  my password\nwith spaces  \r\n'],
    ['no newline', 'no newline'],
  ];
  for (const [input, want] of rows) {
    test(JSON.stringify(input), async () => assert.equal(await readSecretFromStdin(Readable.from([Buffer.from(input)])), want));
  }
});

describe('login server address', () => {
  const rows: [string | undefined, string][] = [
    [undefined, 'docker.io'],
    ['docker.io', 'docker.io'],
    ['https://index.docker.io/v1/', 'docker.io'],
    ['registry-1.docker.io/bork/test', 'registry-1.docker.io'],
    ['localhost:5000', 'localhost:5000'],
    ['http://localhost:5000/v2/', 'localhost:5000'],
  ];
  for (const [server, want] of rows) test(`${server} → ${want}`, () => assert.equal(loginRegistryHost(server), want));
});
