import type { SyncBenchResult } from './sync.js';
import type { ServeCacheBenchResult } from './serve-cache.js';
/** The shape of a bench run's results, as written to `bench/results/<date>-<set>.json`. */
import type { Sample } from './stats.js';

export type Scenario = 'push' | 'pull' | 'copy' | 'noop-copy' | 'inspect' | 'tags';

export interface ScenarioResult {
  scenario: Scenario;
  /** The image key (`8x128MiB`). */
  image: string;
  /** Bytes a full transfer moves (every blob and the manifest). */
  bytes: number;
  samples: Sample[];
}

export interface NoopCheck {
  /** Requests of gantry's no-op copy, from its `--debug` trail. */
  blobRequests: number;
  manifestRequests: number;
  requests: number;
}

export interface ScalingRow {
  scenario: 'pull' | 'copy';
  image: string;
  bytes: number;
  layers: number;
  tool: 'gantry' | 'skopeo';
  wallSeconds: number;
  peakRssMiB: number;
}

export interface EmbeddedRow {
  /** push and copy: the server receives; pull: it serves. */
  scenario: 'push' | 'copy' | 'pull';
  server: 'docker-registry' | 'gantry serve';
  run: number;
  bytes: number;
  wallSeconds: number;
  serverCpuSeconds: number;
}

export interface BenchResults {
  date: string;
  set: string;
  machine: { cpus: number; cpuModel: string; memGiB: number; node: string; skopeo: string; dockerRegistry: string; gantryJobs: string; gantryHashing?: string };
  runs: number;
  scenarios: ScenarioResult[];
  noop?: NoopCheck;
  scaling: ScalingRow[];
  embedded: EmbeddedRow[];
  /** `--sync`: gantry sync against skopeo sync (bench/sync.ts). */
  sync?: SyncBenchResult;
  /** `--serve-cache`: a pull through a cold and a warm gantry serve cache against a direct pull (bench/serve-cache.ts). */
  serveCache?: ServeCacheBenchResult;
  notes: string[];
}
