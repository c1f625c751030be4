/** The shape of a bench run's results, as written to `bench/results/<date>-<set>.json`. */
import type { SyncBenchResult } from './sync.js';
import type { ServeCacheBenchResult } from './serve-cache.js';
import type { Sample } from './stats.js';

export type Scenario = 'push' | 'pull' | 'copy' | 'noop-copy' | 'inspect' | 'digest' | 'tags';

/**
 * Which set of issue 17 a scenario ran in, each with its own image and targets (report.ts
 * TARGETS): `main` the main image (1 GiB of 8 layers), `small` the 256 MiB and 30 MiB images,
 * `many-layers` 64 small layers (per-blob overhead), `big-layer` one large layer, `many-tags`
 * a repository of 10,000 tags (pagination). Results from before issue 17 have no set: `main`.
 */
export type ScenarioSet = 'main' | 'small' | 'many-layers' | 'big-layer' | 'many-tags';

export interface ScenarioResult {
  scenario: Scenario;
  set?: ScenarioSet;
  /** The image key (`8x128MiB`), or for `many-tags` the tag count (`10000 tags`). */
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
  /** User + system CPU seconds (absent in runs before issue 17). */
  cpuSeconds?: number;
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

/**
 * The machine's state around one section of the run (bench/machine-state.ts). Shares are of
 * all CPU time on all cores between the two readings (1 = every core busy the whole time).
 */
export interface SectionState {
  section: string;
  seconds: number;
  /** 1-minute load average at the start and at the end. */
  load1Before: number;
  load1After: number;
  /** /proc/stat `steal`: time the hypervisor gave our virtual CPUs to someone else. */
  stealShare: number;
  /** Busy with anything (everything but idle and iowait). */
  busyShare: number;
  /** Busy with the bench's own process tree: this process, the contenders, the registries. */
  benchShare: number;
  /** Busy with anything else: other work on the machine during the section. */
  otherShare: number;
}

/** node:crypto sha256 on one thread, measured once at the start of the run (bench/machine-state.ts). */
export interface Sha256Speed {
  bytes: number;
  chunkBytes: number;
  /** Wall seconds and CPU seconds (user + system) the hashing took. */
  seconds: number;
  cpuSeconds: number;
  /** Per core: GiB per CPU second, which other work on the machine does not dilute. */
  gibPerSecond: number;
  /** GiB per wall second: what the one thread got while other work ran. */
  gibPerWallSecond: number;
}

export interface BenchResults {
  date: string;
  set: string;
  machine: {
    cpus: number;
    cpuModel: string;
    memGiB: number;
    node: string;
    skopeo: string;
    dockerRegistry: string;
    gantryJobs: string;
    gantryHashing?: string;
    /** Absent in runs before issue 17. */
    sha256?: Sha256Speed;
  };
  runs: number;
  scenarios: ScenarioResult[];
  noop?: NoopCheck;
  scaling: ScalingRow[];
  embedded: EmbeddedRow[];
  /** Runs of each server in the embedded section (absent in runs before issue 17). */
  embeddedRuns?: number;
  /** `--sync`: gantry sync against skopeo sync (bench/sync.ts). */
  sync?: SyncBenchResult;
  /** `--serve-cache`: a pull through a cold and a warm gantry serve cache against a direct pull (bench/serve-cache.ts). */
  serveCache?: ServeCacheBenchResult;
  /** The machine's state around each section, in the order they ran (absent in runs before issue 17). */
  sections?: SectionState[];
  notes: string[];
}
