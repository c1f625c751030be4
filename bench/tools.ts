/**
 * The command lines each contender runs for each scenario: gantry (the built CLI), skopeo, the
 * floor — parallel `curl` moving the same bytes with nothing in between, i.e. what the
 * registries and the disk can take — and the Node floor (bench/node-floor.mjs). In the latency
 * scenarios (inspect, digest, tags) `node` is `node -e 0`: what starting Node alone costs on
 * the machine, in the same environment.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchImage } from './image.js';
import { LAYOUT_TAG } from './image.js';

export type Tool = 'gantry' | 'skopeo' | 'floor' | 'node' | 'node-floor';
/**
 * The contenders of the transfer scenarios (push, pull, copy). `node-floor` is
 * bench/node-floor.mjs: the same transfer by the least Node program that checks what gantry
 * checks, which says how much of a ratio Node itself costs (start-up, node:http, streams).
 */
export type Mover = 'gantry' | 'skopeo' | 'floor' | 'node-floor';
/** The repository and tag every scenario uses. */
export const REPO = 'bench/img';
export const TAG = 'v1';

export interface Endpoint {
  host: string;
  tls: boolean;
  certDir?: string;
}

export interface ToolContext {
  gantryBin: string;
  /** gantry's certs.d root. */
  certsDir: string;
  caFile: string;
  /** Where floor scripts are written. */
  scratch: string;
  /** Extra gantry flags (e.g. `--jobs 8` while tuning). */
  gantryFlags: string[];
  /** Node flags for gantry's process (e.g. `--cpu-prof` while tuning). */
  nodeFlags: string[];
}

const ref = (e: Endpoint): string => `${e.host}/${REPO}:${TAG}`;
const url = (e: Endpoint): string => `${e.tls ? 'https' : 'http'}://${e.host}`;

const NODE_FLOOR = fileURLToPath(new URL('node-floor.mjs', import.meta.url));

function nodeFloor(ctx: ToolContext, e: Endpoint[], args: string[]): string[] {
  return [process.execPath, NODE_FLOOR, ...(e.some((x) => x.tls) ? ['--ca', ctx.caFile] : []), ...args];
}

function gantry(ctx: ToolContext, args: string[]): string[] {
  return [process.execPath, ...ctx.nodeFlags, ctx.gantryBin, ...args, '--quiet', ...ctx.gantryFlags];
}

function skopeoTls(side: 'src' | 'dest', e: Endpoint): string[] {
  return e.tls ? [`--${side}-cert-dir`, e.certDir ?? ''] : [`--${side}-tls-verify=false`];
}

export function pushArgv(tool: Mover, ctx: ToolContext, image: BenchImage, dest: Endpoint): string[] {
  if (tool === 'gantry') return gantry(ctx, ['push', image.dir, ref(dest), '--certs-dir', ctx.certsDir]);
  if (tool === 'skopeo') return ['skopeo', 'copy', '-q', ...skopeoTls('dest', dest), `oci:${image.dir}:${LAYOUT_TAG}`, `docker://${ref(dest)}`];
  if (tool === 'node-floor') return nodeFloor(ctx, [dest], ['push', image.dir, LAYOUT_TAG, url(dest), REPO, TAG]);
  return floorScript(ctx, 'push', floorPushScript(ctx, image, dest));
}

export function pullArgv(tool: Mover, ctx: ToolContext, image: BenchImage, src: Endpoint, outDir: string): string[] {
  if (tool === 'gantry') return gantry(ctx, ['pull', ref(src), outDir, '--certs-dir', ctx.certsDir]);
  if (tool === 'skopeo') return ['skopeo', 'copy', '-q', ...skopeoTls('src', src), `docker://${ref(src)}`, `oci:${outDir}:${TAG}`];
  if (tool === 'node-floor') return nodeFloor(ctx, [src], ['pull', url(src), REPO, TAG, outDir]);
  return floorScript(ctx, 'pull', floorPullScript(ctx, image, src, outDir));
}

export function copyArgv(tool: Mover, ctx: ToolContext, image: BenchImage, src: Endpoint, dest: Endpoint): string[] {
  if (tool === 'gantry') return gantry(ctx, ['copy', `docker://${ref(src)}`, `docker://${ref(dest)}`, '--certs-dir', ctx.certsDir]);
  if (tool === 'skopeo') {
    return ['skopeo', 'copy', '-q', ...skopeoTls('src', src), ...skopeoTls('dest', dest), `docker://${ref(src)}`, `docker://${ref(dest)}`];
  }
  if (tool === 'node-floor') return nodeFloor(ctx, [src, dest], ['copy', url(src), url(dest), REPO, TAG]);
  return floorScript(ctx, 'copy', floorCopyScript(ctx, image, src, dest));
}

export function inspectArgv(tool: 'gantry' | 'skopeo', ctx: ToolContext, src: Endpoint): string[] {
  if (tool === 'gantry') return [process.execPath, ctx.gantryBin, 'inspect', `docker://${ref(src)}`, '--certs-dir', ctx.certsDir];
  return ['skopeo', 'inspect', ...(src.tls ? ['--cert-dir', src.certDir ?? ''] : ['--tls-verify=false']), `docker://${ref(src)}`];
}

export function digestArgv(tool: 'gantry' | 'skopeo', ctx: ToolContext, src: Endpoint): string[] {
  if (tool === 'gantry') return [process.execPath, ctx.gantryBin, 'digest', ref(src), '--certs-dir', ctx.certsDir];
  // skopeo has no remote digest command; inspect prints only the digest with this format (it still reads the config).
  return ['skopeo', 'inspect', '--format', '{{.Digest}}', ...(src.tls ? ['--cert-dir', src.certDir ?? ''] : ['--tls-verify=false']), `docker://${ref(src)}`];
}

export function tagsArgv(tool: 'gantry' | 'skopeo', ctx: ToolContext, src: Endpoint, repo = REPO): string[] {
  if (tool === 'gantry') return [process.execPath, ctx.gantryBin, 'tags', `${src.host}/${repo}`, '--certs-dir', ctx.certsDir];
  return ['skopeo', 'list-tags', ...(src.tls ? ['--cert-dir', src.certDir ?? ''] : ['--tls-verify=false']), `docker://${src.host}/${repo}`];
}

/** `node -e 0`: Node's own start-up, the bound for any command of a Node CLI. */
export function nodeStartArgv(): string[] {
  return [process.execPath, '-e', '0'];
}

// --- the floor -------------------------------------------------------------------------------

function floorScript(ctx: ToolContext, name: string, body: string): string[] {
  const file = join(ctx.scratch, `floor-${name}.sh`);
  writeFileSync(file, `set -euo pipefail\n${body}`);
  return ['bash', file];
}

/** curl over HTTP/1.1 (HTTP/2 halves throughput here), no `Expect: 100-continue` round trip. */
function curl(ctx: ToolContext, e: Endpoint): string {
  return `curl -sS -f --http1.1 -H 'Expect:'${e.tls ? ` --cacert '${ctx.caFile}'` : ''}`;
}

/** A shell function that opens an upload session on `e` and prints its absolute Location. */
function openUpload(ctx: ToolContext, e: Endpoint): string {
  return `open_upload() {
  local loc
  loc=$(${curl(ctx, e)} -o /dev/null -D - -X POST '${url(e)}/v2/${REPO}/blobs/uploads/' | tr -d '\\r' | awk 'tolower($1)=="location:"{print $2}')
  case "$loc" in http*) ;; *) loc='${url(e)}'"$loc";; esac
  case "$loc" in *\\?*) printf '%s&' "$loc";; *) printf '%s?' "$loc";; esac
}
`;
}

/** Waits for every background job; fails if any failed. */
const WAIT_ALL = 'for p in "${pids[@]}"; do wait "$p"; done\n';

function floorPushScript(ctx: ToolContext, image: BenchImage, dest: Endpoint): string {
  let s = openUpload(ctx, dest);
  s += `push_blob() { local u; u=$(open_upload); ${curl(ctx, dest)} -o /dev/null -H 'Content-Type: application/octet-stream' -T "$1" "\${u}digest=$2"; }\n`;
  s += 'pids=()\n';
  for (const b of [...image.layers, image.config]) s += `push_blob '${b.file}' '${b.digest}' & pids+=($!)\n`;
  s += WAIT_ALL;
  s += `${curl(ctx, dest)} -o /dev/null -X PUT -H 'Content-Type: ${image.manifest.mediaType}' --data-binary '@${image.manifest.file}' '${url(dest)}/v2/${REPO}/manifests/${TAG}'\n`;
  return s;
}

function floorCopyScript(ctx: ToolContext, image: BenchImage, src: Endpoint, dest: Endpoint): string {
  let s = openUpload(ctx, dest);
  s += `copy_blob() { local u; u=$(open_upload); ${curl(ctx, src)} '${url(src)}/v2/${REPO}/blobs/'"$1" | ${curl(ctx, dest)} -o /dev/null -H 'Content-Type: application/octet-stream' -T - "\${u}digest=$1"; }\n`;
  s += 'pids=()\n';
  for (const b of [...image.layers, image.config]) s += `copy_blob '${b.digest}' & pids+=($!)\n`;
  s += WAIT_ALL;
  const accept = `-H 'Accept: ${image.manifest.mediaType}'`;
  s += `${curl(ctx, src)} ${accept} '${url(src)}/v2/${REPO}/manifests/${TAG}' | ${curl(ctx, dest)} -o /dev/null -X PUT -H 'Content-Type: ${image.manifest.mediaType}' --data-binary @- '${url(dest)}/v2/${REPO}/manifests/${TAG}'\n`;
  return s;
}

/**
 * GET every blob at once, hash it (read back from the page cache: cheaper here than `tee` into
 * a pipe), fsync it (`sync FILE`), as a durable pull does.
 */
function floorPullScript(ctx: ToolContext, image: BenchImage, src: Endpoint, outDir: string): string {
  let s = `mkdir -p '${outDir}/blobs/sha256'\n`;
  s += `pull_blob() { local f='${outDir}/blobs/sha256/'"\${1#sha256:}"; ${curl(ctx, src)} -o "$f" '${url(src)}/v2/${REPO}/blobs/'"$1"; sha256sum "$f" > "$f.sum"; sync "$f"; }\n`;
  s += 'pids=()\n';
  for (const b of [...image.layers, image.config]) s += `pull_blob '${b.digest}' & pids+=($!)\n`;
  s += WAIT_ALL;
  s += `${curl(ctx, src)} -H 'Accept: ${image.manifest.mediaType}' -o '${outDir}/manifest.json' '${url(src)}/v2/${REPO}/manifests/${TAG}'\n`;
  s += `sync '${outDir}/blobs/sha256'\n`;
  return s;
}
