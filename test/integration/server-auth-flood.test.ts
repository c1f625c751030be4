/**
 * The embedded registry under a wrong-password flood (issue "Trust at origin boundaries",
 * items 8 and 9): bcrypt runs in worker threads, so while 20 cost-12 comparisons are in
 * flight other requests are answered at once; and an address with too many failures is
 * answered 429 with Retry-After, without bcrypt, while other addresses are served.
 * Clients are bound to 127.0.0.1 and 127.0.0.2 (both loopback) to be two addresses.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { Agent, request } from 'undici';
import { createRegistryServer, TokenIssuer, type RegistryServer, type RegistryServerOptions } from '../../src/server/index.js';

/** The cost of the report: ~0.35 s per comparison on an idle core, more on a busy one. */
const COST = 12;
const FLOOD = 20;
/** What "answered at once" means while the flood is in flight. */
const ANSWER_BOUND_MS = 1000;
const SERVICE = 'flood-test';

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

interface Answer {
  status: number;
  ms: number;
  retryAfter: string | undefined;
  text: string;
}

const fromOther = new Agent({ localAddress: '127.0.0.2' });
const fromLoopback = new Agent({ localAddress: '127.0.0.1' });

async function get(url: string, authorization?: string, agent: Agent = fromLoopback): Promise<Answer> {
  const started = performance.now();
  const res = await request(url, { dispatcher: agent, headers: authorization ? { authorization } : {}, headersTimeout: 60_000, bodyTimeout: 60_000 });
  const text = await res.body.text();
  const retryAfter = res.headers['retry-after'];
  return { status: res.statusCode, ms: performance.now() - started, retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter, text };
}

const codes = (a: Answer): string[] => (JSON.parse(a.text) as { errors: Array<{ code: string }> }).errors.map((e) => e.code);

let dir: string;
const hashes: Record<string, string> = {};
const password = (user: string): string => `${user}-correct-horse`;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'gantry-auth-flood-'));
  // Generated once: each cost-12 hash is as slow as a comparison.
  for (const user of ['alice', 'bob', 'carol']) hashes[user] = bcrypt.hashSync(password(user), COST);
  writeFileSync(join(dir, 'htpasswd'), Object.entries(hashes).map(([u, h]) => `${u}:${h}\n`).join(''));
});
after(async () => {
  await fromOther.close();
  await fromLoopback.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The token issuer's users are `t-alice`…: remembered logins of the htpasswd tests do not count. */
function tokenIssuer(): TokenIssuer {
  const users = Object.fromEntries(Object.entries(hashes).map(([u, h]) => [`t-${u}`, { password: h, access: [{ repository: '*', actions: ['pull' as const] }] }]));
  return TokenIssuer.withGeneratedKey({ issuer: 'flood-issuer', service: SERVICE, users });
}

/** How each kind of auth is asked for a password check, and with what server options. */
const KINDS: Array<{ name: string; auth: () => RegistryServerOptions['auth']; path: string; user: string }> = [
  { name: 'htpasswd', auth: () => ({ type: 'htpasswd', file: join(dir, 'htpasswd') }), path: '/v2/', user: '' },
  { name: 'token issuer at /token', auth: () => ({ type: 'token', issuer: tokenIssuer(), service: SERVICE }), path: `/token?service=${SERVICE}&scope=repository:x:pull`, user: 't-' },
];

for (const kind of KINDS) {
  describe(`${kind.name}: ${FLOOD} wrong passwords at bcrypt cost ${COST}`, () => {
    let server: RegistryServer;
    before(async () => {
      // Throttling off: every wrong password reaches bcrypt; the pool alone must keep the loop free.
      server = await createRegistryServer({ listen: { host: '127.0.0.1', port: 0 }, storage: 'memory', auth: kind.auth(), authThrottle: { enabled: false } });
    });
    after(() => server.close());

    test(`other requests are answered in < ${ANSWER_BOUND_MS} ms while the flood is in flight`, async () => {
      // bob logged in before the flood: his credentials are remembered, no bcrypt needed.
      assert.equal((await get(server.url + kind.path, basic(`${kind.user}bob`, password('bob')), fromOther)).status, 200);

      let settled = 0;
      const flood = Array.from({ length: FLOOD }, (_, i) =>
        get(server.url + kind.path, basic(`${kind.user}alice`, `wrong-${i}`)).finally(() => {
          settled++;
        }),
      );
      await new Promise((r) => setTimeout(r, 100));

      const anonymous = await get(`${server.url}/v2/`);
      assert.equal(anonymous.status, 401);
      assert.ok(anonymous.ms < ANSWER_BOUND_MS, `anonymous /v2/ took ${anonymous.ms.toFixed(0)} ms`);
      const bob = await get(server.url + kind.path, basic(`${kind.user}bob`, password('bob')), fromOther);
      assert.equal(bob.status, 200, bob.text);
      assert.ok(bob.ms < ANSWER_BOUND_MS, `bob's login took ${bob.ms.toFixed(0)} ms`);
      assert.ok(settled < FLOOD, 'the flood was still in flight');

      // carol's first login needs bcrypt; her address has its own line, so she waits for the
      // comparisons running, not for the flood (which is ~9 comparisons per worker long).
      const carol = await get(server.url + kind.path, basic(`${kind.user}carol`, password('carol')), fromOther);
      assert.equal(carol.status, 200, carol.text);
      assert.ok(settled < FLOOD / 2, `carol waited for ${settled} of the flood's ${FLOOD} checks (${carol.ms.toFixed(0)} ms)`);

      const answers = await Promise.all(flood);
      // One address may keep 16 checks waiting (BCRYPT_QUEUE_PER_CLIENT); the rest are told to retry.
      for (const a of answers) {
        assert.ok(a.status === 401 || (a.status === 429 && Number(a.retryAfter) >= 1), `${a.status} ${a.text}`);
      }
      assert.ok(answers.filter((a) => a.status === 401).length >= 16);
    });
  });
}

describe('failed-authentication throttling per address', () => {
  const MAX_FAILURES = 3;
  const BACKOFF_MS = 1500;

  for (const kind of KINDS) {
    test(`${kind.name}: after ${MAX_FAILURES} failures from 127.0.0.1, 429 with Retry-After; 127.0.0.2 is served`, async () => {
      const server = await createRegistryServer({
        listen: { host: '127.0.0.1', port: 0 },
        storage: 'memory',
        auth: kind.auth(),
        authThrottle: { maxFailures: MAX_FAILURES, windowMs: 60_000, backoffMs: BACKOFF_MS },
      });
      try {
        const failures: Answer[] = [];
        for (let i = 0; i < MAX_FAILURES; i++) failures.push(await get(server.url + kind.path, basic(`${kind.user}alice`, `guess-${i}`)));
        assert.deepEqual(failures.map((a) => a.status), Array(MAX_FAILURES).fill(401));

        // Even the right password is refused now, and sooner than any comparison took.
        const refused = await get(server.url + kind.path, basic(`${kind.user}alice`, password('alice')));
        assert.equal(refused.status, 429, refused.text);
        assert.deepEqual(codes(refused), ['TOOMANYREQUESTS']);
        const retryAfter = Number(refused.retryAfter);
        assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= Math.ceil(BACKOFF_MS / 1000), `Retry-After: ${refused.retryAfter}`);
        const fastestFailure = Math.min(...failures.map((a) => a.ms));
        assert.ok(refused.ms < fastestFailure, `429 took ${refused.ms.toFixed(0)} ms, a bcrypt failure ${fastestFailure.toFixed(0)} ms`);

        // A request without credentials is not an attempt: its usual 401.
        assert.equal((await get(`${server.url}/v2/`)).status, 401);
        const bob = await get(server.url + kind.path, basic(`${kind.user}bob`, password('bob')), fromOther);
        assert.equal(bob.status, 200, bob.text);

        // After the back-off, the address may try again.
        const deadline = Date.now() + BACKOFF_MS + 3000;
        let again: Answer;
        do {
          await new Promise((r) => setTimeout(r, 250));
          again = await get(server.url + kind.path, basic(`${kind.user}alice`, password('alice')));
        } while (again.status === 429 && Date.now() < deadline);
        assert.equal(again.status, 200, again.text);
      } finally {
        await server.close();
      }
    });
  }
});
