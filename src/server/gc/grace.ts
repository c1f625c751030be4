/**
 * The default grace period: one hour, as long as a push may reasonably take between its first
 * blob and its manifest (blobs are unreferenced until then). A module of its own, so that
 * `gantry serve gc --help` shows it without loading the collector (docs/startup.md).
 */
export const DEFAULT_GC_GRACE_MS = 3_600_000;
