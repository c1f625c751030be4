/**
 * One repository's mark and sweep.
 *
 * Mark: the roots are its tags, its young manifests (written or touched since the cutoff)
 * and, unless untagged manifests go, every manifest. From each root, every digest its manifest
 * names (references.ts) and, with `deleteUntagged`, the referrers of every kept manifest,
 * recursively. Sweep: links to blobs nothing kept names, manifests no root reaches (with
 * `deleteUntagged`), and referrers index entries whose manifest goes or is gone; never a file
 * younger than the cutoff.
 *
 * Removing is trash, then check (../storage/trash.ts): every candidate is moved to the trash,
 * and only then checked again. A manifest that is young or back at its place by then (a writer
 * tagged it, or named it in a new index, and so touched or took it back) is kept, and so is
 * everything it reaches; manifests are unlinked parents first, so one that comes back at the
 * last moment still finds its children in the trash. A link is kept when it was touched (a new
 * manifest names it) before it went to the trash; a writer that comes later finds it there, or
 * finds it gone and fails its request. docs/serve-gc.md draws the races.
 */
import { open } from 'node:fs/promises';
import { Digest } from '../../ref/digest.js';
import { discardTrashed, moveToTrash, pathExists, putBack, trashedMtime } from '../storage/trash.js';
import { readManifestReferences } from './references.js';
import { mtimeOf, type Sweep } from './sweep.js';
import { digestsIn, entries, referrerEntries, referrersIn } from './walk.js';

/** A manifest whose references cannot be known: its repository is marked whole, not swept. */
class UnknownReferences extends Error {}

interface Candidates {
  links: Map<string, Digest>;
  /** Manifests no root reaches, with what they would keep if they came back. */
  revisions: Map<string, { digest: Digest; successors: string[] }>;
  entries: { subject: Digest; referrer: Digest }[];
}

/** Marks and sweeps the repository `name`. */
export async function collectRepository(sweep: Sweep, name: string): Promise<void> {
  const repository = new RepositoryCollection(sweep, name);
  try {
    await repository.run();
  } catch (err) {
    if (!(err instanceof UnknownReferences)) throw err;
    sweep.warn(`${name}: ${err.message}; the repository is kept whole`);
    await repository.markEverything();
  }
}

class RepositoryCollection {
  /** Its manifests, with their revision files' modification times. */
  private readonly revisions = new Map<string, { digest: Digest; mtime: number }>();
  private readonly reachable = new Set<string>();

  constructor(
    private readonly sweep: Sweep,
    private readonly name: string,
  ) {}

  private get layout() {
    return this.sweep.layout;
  }

  async run(): Promise<void> {
    for await (const d of digestsIn(this.layout.repository(this.name, '_manifests', 'revisions'))) {
      const mtime = await mtimeOf(this.layout.revision(this.name, d));
      if (mtime !== undefined) this.revisions.set(d.toString(), { digest: d, mtime });
    }
    await this.mark(await this.roots());
    const candidates = await this.candidates();
    for (const key of this.reachable) this.sweep.marks.add(key);
    if (this.sweep.dryRun) {
      for (const d of candidates.revisions.values()) this.sweep.removed({ kind: 'manifest', repository: this.name, digest: d.digest.toString() });
      for (const d of candidates.links.values()) this.sweep.removed({ kind: 'link', repository: this.name, digest: d.toString() });
      for (const e of candidates.entries) this.sweep.removed({ kind: 'referrer', repository: this.name, subject: e.subject.toString(), digest: e.referrer.toString() });
      return;
    }
    await this.remove(candidates);
  }

  /** Tags, young manifests, and every manifest unless untagged ones go. */
  private async roots(): Promise<Digest[]> {
    const roots: Digest[] = [];
    for await (const entry of entries(this.layout.repository(this.name, '_manifests', 'tags'))) {
      const d = await readTag(this.layout.tag(this.name, entry.name));
      if (d) roots.push(d);
    }
    for (const { digest, mtime } of this.revisions.values()) {
      if (!this.sweep.deleteUntagged || mtime >= this.sweep.cutoff) roots.push(digest);
    }
    return roots;
  }

  private async mark(roots: Digest[]): Promise<void> {
    const stack = [...roots];
    for (let d = stack.pop(); d; d = stack.pop()) {
      const key = d.toString();
      if (this.reachable.has(key)) continue;
      this.reachable.add(key);
      if (this.revisions.has(key)) stack.push(...(await this.successors(d)));
    }
  }

  /** What a manifest of the repository keeps: what it names, and its referrers when untagged manifests go. */
  private async successors(d: Digest): Promise<Digest[]> {
    const refs = await readManifestReferences(this.layout.blob(d));
    if (refs.kind === 'invalid') throw new UnknownReferences(`manifest ${d.toString()} is ${refs.reason}`);
    if (refs.kind === 'missing') this.sweep.warn(`${this.name}: manifest ${d.toString()} has no bytes in the blob store`);
    const out = refs.kind === 'references' ? refs.digests : [];
    if (this.sweep.deleteUntagged) for await (const r of referrersIn(this.layout.referrers(this.name, d))) out.push(r);
    return out;
  }

  private async candidates(): Promise<Candidates> {
    const { cutoff, marks } = this.sweep;
    const c: Candidates = { links: new Map(), revisions: new Map(), entries: [] };
    for (const [key, { digest, mtime }] of this.revisions) {
      if (this.reachable.has(key) || mtime >= cutoff) marks.add(key);
      else c.revisions.set(key, { digest, successors: (await this.successors(digest)).map(String) });
    }
    for await (const d of digestsIn(this.layout.repository(this.name, '_layers'))) {
      const key = d.toString();
      const mtime = this.reachable.has(key) ? undefined : await mtimeOf(this.layout.link(this.name, d));
      if (mtime !== undefined && mtime < cutoff) c.links.set(key, d);
      else marks.add(key);
    }
    for await (const e of referrerEntries(this.layout.repository(this.name, '_referrers'))) {
      const key = e.referrer.toString();
      if (this.revisions.has(key) ? !c.revisions.has(key) : await pathExists(this.layout.revision(this.name, e.referrer))) continue;
      const mtime = await mtimeOf(this.layout.referrerEntry(this.name, e.subject, e.referrer));
      if (mtime !== undefined && mtime < cutoff) c.entries.push(e);
    }
    return c;
  }

  private async remove(c: Candidates): Promise<void> {
    const { layout, cutoff, marks } = this.sweep;
    const revisionPath = (key: string): string => this.layout.revision(this.name, (c.revisions.get(key) as { digest: Digest }).digest);
    const linkPath = (key: string): string => this.layout.link(this.name, c.links.get(key) as Digest);

    // Into the trash, all of them, before any is checked again.
    for (const key of [...c.revisions.keys()]) if (!(await moveToTrash(layout, revisionPath(key)))) c.revisions.delete(key);
    for (const key of [...c.links.keys()]) if (!(await moveToTrash(layout, linkPath(key)))) c.links.delete(key);
    const trashedEntries = [];
    for (const e of c.entries) if (await moveToTrash(layout, layout.referrerEntry(this.name, e.subject, e.referrer))) trashedEntries.push(e);

    // What a kept manifest reaches among the trashed is kept too.
    const keptRevisions = new Set<string>();
    const keptLinks = new Set<string>();
    const keepFrom = async (seeds: string[]): Promise<void> => {
      const stack = [...seeds];
      for (let key = stack.pop(); key !== undefined; key = stack.pop()) {
        if (c.links.has(key) && !keptLinks.has(key)) {
          keptLinks.add(key);
          await putBack(layout, linkPath(key));
        }
        const revision = c.revisions.get(key);
        if (!revision || keptRevisions.has(key)) continue;
        keptRevisions.add(key);
        await putBack(layout, revisionPath(key));
        stack.push(...revision.successors);
      }
    };

    // A manifest touched before it went to the trash, or back at its place, is kept.
    const seeds: string[] = [];
    for (const key of c.revisions.keys()) {
      const mtime = await trashedMtime(layout, revisionPath(key));
      if (mtime === undefined || mtime >= cutoff || (await pathExists(revisionPath(key)))) seeds.push(key);
    }
    await keepFrom(seeds);

    // The rest go parents first: one taken back before its unlink still finds its children.
    for (const key of parentsFirst([...c.revisions.keys()], (k) => c.revisions.get(k)?.successors ?? [])) {
      if (keptRevisions.has(key)) continue;
      if (await discardTrashed(layout, revisionPath(key))) {
        this.sweep.removed({ kind: 'manifest', repository: this.name, digest: key });
      } else {
        await keepFrom([key]);
      }
    }
    for (const key of keptRevisions) marks.add(key);

    for (const key of c.links.keys()) {
      if (!keptLinks.has(key)) {
        const mtime = await trashedMtime(layout, linkPath(key));
        if (mtime === undefined || mtime >= cutoff) await putBack(layout, linkPath(key));
        else if (await discardTrashed(layout, linkPath(key))) {
          this.sweep.removed({ kind: 'link', repository: this.name, digest: key });
          continue;
        }
      }
      marks.add(key);
    }

    // Last, the referrers entries: kept when their manifest is there now.
    for (const e of trashedEntries) {
      const path = layout.referrerEntry(this.name, e.subject, e.referrer);
      const mtime = await trashedMtime(layout, path);
      if (mtime === undefined || mtime >= cutoff || (await pathExists(layout.revision(this.name, e.referrer)))) await putBack(layout, path);
      else if (await discardTrashed(layout, path)) this.sweep.removed({ kind: 'referrer', repository: this.name, subject: e.subject.toString(), digest: e.referrer.toString() });
    }
  }

  /** Keeps everything the repository links or holds (its manifests could not all be read). */
  async markEverything(): Promise<void> {
    const { marks } = this.sweep;
    for (const key of this.reachable) marks.add(key);
    for await (const d of digestsIn(this.layout.repository(this.name, '_layers'))) marks.add(d.toString());
    for await (const d of digestsIn(this.layout.repository(this.name, '_manifests', 'revisions'))) marks.add(d.toString());
  }
}

/** A tag file's digest (a few bytes; a larger file is not a tag gantry wrote). */
async function readTag(path: string): Promise<Digest | undefined> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch {
    return undefined;
  }
  try {
    const buffer = Buffer.alloc(256);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return Digest.tryParse(buffer.subarray(0, bytesRead).toString('utf8').trim());
  } finally {
    await handle.close();
  }
}

/**
 * `keys` ordered so that a manifest comes before those it keeps (reverse post-order of a
 * depth-first walk; content addressing makes cycles all but impossible, and one is cut anywhere).
 */
export function parentsFirst(keys: string[], successors: (key: string) => string[]): string[] {
  const inSet = new Set(keys);
  const visited = new Set<string>();
  const post: string[] = [];
  for (const start of keys) {
    if (visited.has(start)) continue;
    visited.add(start);
    const stack = [{ key: start, next: 0, succ: successors(start) }];
    while (stack.length > 0) {
      const top = stack[stack.length - 1] as { key: string; next: number; succ: string[] };
      const s = top.succ[top.next++];
      if (s === undefined) {
        post.push(top.key);
        stack.pop();
      } else if (inSet.has(s) && !visited.has(s)) {
        visited.add(s);
        stack.push({ key: s, next: 0, succ: successors(s) });
      }
    }
  }
  return post.reverse();
}
