/**
 * The registries the conformance workflows run against: the embedded registry in memory and
 * on disk, and the real CNCF registry (`docker-registry`, distribution 2.8). A check that
 * distribution 2.8 fails because it predates spec v1.1 is listed in its `knownGaps`, and the
 * check then asserts that the gap is still there (see `conform`), so a change is noticed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDockerRegistry, type RunningRegistry } from '../helpers/docker-registry.js';
import { peerPath, requirePeer } from '../helpers/peers.js';
import { createRegistryServer, type RegistryServer } from '../../src/server/index.js';

export interface ConformanceTarget {
  name: string;
  /** Set by `start()`. */
  url: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Checks this target is known to fail, by id (see `conform`). */
  knownGaps: Set<string>;
  /** True when the test can run (a missing peer skips locally and fails under CI). */
  available(t: { skip(message?: string): void }): boolean;
}

/**
 * Spec v1.1 behaviour distribution 2.8.2 does not have. Each id names one check; the
 * conformance test asserts distribution still behaves the old way.
 */
export const DISTRIBUTION_2_8_GAPS = [
  /** No referrers API: `GET /v2/<name>/referrers/<digest>` is 404. */
  'referrers-api',
  /** No `OCI-Subject` header when a manifest with `subject` is pushed. */
  'oci-subject-header',
  /** DELETE /v2/<name>/manifests/<tag> is refused; only digests can be deleted. */
  'delete-tag',
  /** A single `POST ?digest=` with the blob is not taken as a monolithic upload: 202, a session. */
  'single-post-upload',
  /**
   * Tags are listed in storage order, not lexically. Which order that is depends on the
   * filesystem, so the gap check compares the set only (the pagination gap below is the one
   * that shows deterministically that the tags endpoint predates v1.1).
   */
  'tags-sorted',
  /** The tags list ignores `n` and `last` and sends no `Link` (added in distribution 3). */
  'tags-pagination',
  /** A PATCH whose Content-Range does not start where the upload ends is accepted (202), not 416. */
  'chunk-order-416',
] as const;

function embedded(name: string, storage: 'memory' | 'disk'): ConformanceTarget {
  let server: RegistryServer | undefined;
  let dir: string | undefined;
  return {
    name,
    url: '',
    knownGaps: new Set(),
    available: () => true,
    async start() {
      if (storage === 'disk') dir = mkdtempSync(join(tmpdir(), 'gantry-conformance-'));
      server = await createRegistryServer({ listen: { host: '127.0.0.1', port: 0 }, storage: dir ?? 'memory' });
      this.url = server.url;
    },
    async stop() {
      await server?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

function distribution(): ConformanceTarget {
  let registry: RunningRegistry | undefined;
  return {
    name: 'docker-registry 2.8',
    url: '',
    knownGaps: new Set(DISTRIBUTION_2_8_GAPS),
    available: (t) => requirePeer(t, 'docker-registry'),
    async start() {
      if (!peerPath('docker-registry')) return;
      registry = await startDockerRegistry();
      this.url = registry.url;
    },
    async stop() {
      await registry?.stop();
    },
  };
}

export function conformanceTargets(): ConformanceTarget[] {
  return [embedded('embedded (memory)', 'memory'), embedded('embedded (disk)', 'disk'), distribution()];
}

/**
 * Runs the spec's check, or, for a target that lists `id` as a known gap, the assertion
 * that the gap still exists: the check is never loosened, only recorded.
 */
export async function conform(target: ConformanceTarget, id: string, checks: { spec: () => Promise<void> | void; gap: () => Promise<void> | void }): Promise<void> {
  if (target.knownGaps.has(id)) await checks.gap();
  else await checks.spec();
}
