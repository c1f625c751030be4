/* global document, window, location */
/**
 * The gantry web view: hash routes over the registry's /v2/ API.
 *
 *   #/                       repositories (searchable)
 *   #/r/<name>               a repository's tags: digest, type, size, created, platforms
 *   #/i/<name>/<tag|digest>  an image: platforms or layers, config, referrers, commands
 *
 * Everything the registry returns is put on the page as text (dom.js).
 */
import * as api from './api.js';
import { append, command, formatBytes, formatCreated, formatPlatform, h, imageHref, repoHref, table } from './dom.js';

const view = document.getElementById('view');
const INDEX_TYPES = new Set(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']);
const IMAGE_CONFIG_TYPES = new Set(['application/vnd.oci.image.config.v1+json', 'application/vnd.docker.container.image.v1+json']);
/** How deep the referrers tree is followed (a signature of an SBOM of an image is 2). */
const REFERRERS_DEPTH = 4;
/** At most this many manifest reads at once for a tag list. */
const CONCURRENCY = 4;

let renderCount = 0;

function host() {
  return location.host;
}

/** Runs `fn` over `items`, at most `limit` at once. */
async function eachLimited(items, limit, fn) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

function imageSize(json) {
  const config = typeof json?.config?.size === 'number' ? json.config.size : 0;
  return config + (Array.isArray(json?.layers) ? json.layers.reduce((sum, l) => sum + (typeof l?.size === 'number' ? l.size : 0), 0) : 0);
}

function crumbs(...parts) {
  const items = [h('a', { href: '#/' }, 'Repositories')];
  for (const part of parts) items.push(' / ', part);
  return h('p', { class: 'crumbs' }, items);
}

// ---- #/ -------------------------------------------------------------------------------------

async function renderRepositories() {
  const names = await api.repositories();
  const search = h('input', { id: 'search', class: 'search', type: 'search', placeholder: 'Search repositories', autocomplete: 'off', 'aria-label': 'Search repositories' });
  const items = names.map((name) => h('li', { 'data-name': name }, h('a', { href: repoHref(name) }, name)));
  const empty = h('p', { id: 'no-match', class: 'muted', hidden: names.length > 0 }, names.length ? 'No repository matches.' : 'The registry has no repositories yet.');
  const count = h('span', { id: 'repo-count', class: 'badge' }, String(names.length));
  const filter = () => {
    const q = search.value.trim().toLowerCase();
    let shown = 0;
    for (const li of items) {
      const match = li.dataset.name.toLowerCase().includes(q);
      li.hidden = !match;
      if (match) shown++;
    }
    count.textContent = q ? `${shown} of ${names.length}` : String(names.length);
    empty.hidden = shown > 0;
  };
  search.addEventListener('input', filter);
  view.replaceChildren(h('h2', {}, 'Repositories ', count), search, h('ul', { id: 'repositories', class: 'list' }, items), empty);
  search.focus();
}

// ---- #/r/<name> -----------------------------------------------------------------------------

async function renderRepository(name) {
  const tagList = await api.tags(name);
  const rows = tagList.map((tag) => {
    const cells = { digest: h('td', { class: 'mono' }, '…'), type: h('td', {}), size: h('td', { class: 'num' }), created: h('td', {}), platforms: h('td', {}) };
    const tr = h('tr', { 'data-tag': tag }, h('td', {}, h('a', { href: imageHref(name, tag) }, tag)), cells.digest, cells.type, cells.size, cells.created, cells.platforms);
    return { tag, tr, cells };
  });
  view.replaceChildren(
    crumbs(name),
    h('h2', {}, name),
    h('h3', {}, 'Tags ', h('span', { class: 'badge' }, String(tagList.length))),
    tagList.length
      ? h('table', { id: 'tags' }, h('thead', {}, h('tr', {}, ['Tag', 'Digest', 'Type', 'Size', 'Created', 'Platforms'].map((l) => h('th', { class: l === 'Size' ? 'num' : undefined }, l)))), h('tbody', {}, rows.map((r) => r.tr)))
      : h('p', { class: 'muted' }, 'No tags.'),
  );
  await eachLimited(rows, CONCURRENCY, async ({ tag, cells }) => {
    try {
      const m = await api.manifest(name, tag);
      cells.digest.replaceChildren(h('a', { href: imageHref(name, m.digest ?? tag) }, m.digest ?? '?'));
      if (INDEX_TYPES.has(m.mediaType)) {
        const children = (m.json.manifests ?? []).filter((d) => api.isDigest(d?.digest));
        cells.type.textContent = 'index';
        cells.platforms.textContent = children.map((d) => formatPlatform(d.platform)).join(', ');
        const sizes = [];
        await eachLimited(children, CONCURRENCY, async (d, i) => {
          sizes[i] = imageSize((await api.manifest(name, d.digest)).json);
        });
        cells.size.textContent = formatBytes(sizes.reduce((sum, n) => sum + n, 0));
        cells.created.textContent = '—';
      } else {
        cells.type.textContent = m.json.artifactType ? 'artifact' : 'image';
        cells.size.textContent = formatBytes(imageSize(m.json));
        const config = await readConfig(name, m.json);
        cells.created.textContent = formatCreated(config?.created);
        cells.platforms.textContent = config ? formatPlatform(config) : '—';
      }
    } catch (err) {
      if (err instanceof api.LoginRequired) throw err;
      cells.digest.replaceChildren(h('span', { class: 'error' }, err.message));
    }
  });
}

/** The image config of a manifest, or undefined for an artifact's config. */
async function readConfig(name, json) {
  const config = json?.config;
  if (!config || !IMAGE_CONFIG_TYPES.has(config.mediaType) || !api.isDigest(config.digest)) return undefined;
  return api.jsonBlob(name, config.digest);
}

// ---- #/i/<name>/<ref> -----------------------------------------------------------------------

async function renderImage(name, ref) {
  const m = await api.manifest(name, ref);
  const isIndex = INDEX_TYPES.has(m.mediaType);
  const digest = m.digest ?? ref;
  const location_ = `${host()}/${name}`;
  const sections = [];
  const facts = [
    ['Digest', h('code', { id: 'digest' }, digest)],
    ['Media type', h('code', { id: 'media-type' }, m.mediaType || '—')],
    ['Manifest size', h('span', { id: 'manifest-size' }, formatBytes(m.size))],
  ];
  if (m.json.artifactType) facts.push(['Artifact type', h('code', { id: 'artifact-type' }, m.json.artifactType)]);
  if (m.json.subject && api.isDigest(m.json.subject.digest)) facts.push(['Refers to', h('a', { id: 'subject', href: imageHref(name, m.json.subject.digest) }, m.json.subject.digest)]);

  const refText = api.isDigest(ref) ? `@${ref}` : `:${ref}`;
  const commands = [command(`gantry pull ${location_}@${digest} ./${name.split('/').pop()}`), command(`docker pull ${location_}@${digest}`)];
  if (!api.isDigest(ref)) commands.push(command(`docker pull ${location_}:${ref}`));
  commands.push(command(`gantry inspect ${location_}@${digest}`));

  if (isIndex) {
    const children = (m.json.manifests ?? []).filter((d) => api.isDigest(d?.digest));
    sections.push(
      h('h3', {}, 'Platforms'),
      table('platforms', ['Platform', 'Digest', 'Media type', '#Size'], children.map((d) => [formatPlatform(d.platform), h('a', { href: imageHref(name, d.digest) }, d.digest), d.mediaType ?? '', formatBytes(d.size)])),
    );
  } else {
    const layers = Array.isArray(m.json.layers) ? m.json.layers : [];
    facts.push(['Total size', h('span', { id: 'total-size' }, formatBytes(imageSize(m.json)))]);
    sections.push(
      h('h3', {}, 'Layers ', h('span', { class: 'badge' }, String(layers.length))),
      table('layers', ['#', 'Digest', 'Media type', '#Size'], layers.map((l, i) => [String(i + 1), h('code', {}, String(l?.digest ?? '')), String(l?.mediaType ?? ''), formatBytes(l?.size)])),
    );
    const config = await readConfig(name, m.json);
    if (config) sections.push(...configSection(config, m.json.config));
    else if (m.json.config) sections.push(h('h3', {}, 'Config'), h('p', {}, h('code', {}, String(m.json.config.mediaType ?? '')), ' ', formatBytes(m.json.config.size)));
  }
  const tree = h('div', { id: 'referrers' }, h('p', { class: 'muted' }, 'Loading…'));
  sections.push(h('h3', {}, 'Referrers'), tree);

  view.replaceChildren(
    crumbs(h('a', { href: repoHref(name) }, name), ref),
    h('h2', { id: 'image-title' }, `${name}${refText}`),
    h('dl', { class: 'facts', id: 'summary' }, facts.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])),
    h('h3', {}, 'Commands'),
    h('div', { id: 'commands' }, commands),
    ...sections,
  );
  const seen = new Set([digest]);
  const top = await referrersTree(name, digest, REFERRERS_DEPTH, seen);
  tree.replaceChildren(top ?? h('p', { class: 'muted', id: 'no-referrers' }, 'No referrers (signatures, SBOMs, attestations).'));
}

function configSection(config, descriptor) {
  const c = config.config ?? {};
  const json = (v) => (v === undefined || v === null ? '—' : h('code', {}, JSON.stringify(v)));
  const env = Array.isArray(c.Env) ? c.Env.map(String) : [];
  const labels = c.Labels && typeof c.Labels === 'object' ? Object.entries(c.Labels).sort(([a], [b]) => (a < b ? -1 : 1)) : [];
  return [
    h('h3', {}, 'Config'),
    h(
      'dl',
      { class: 'facts', id: 'config' },
      [
        ['Digest', h('code', { id: 'config-digest' }, String(descriptor.digest))],
        ['Created', h('span', { id: 'config-created' }, formatCreated(config.created))],
        ['Platform', h('span', { id: 'config-platform' }, formatPlatform(config))],
        ['Entrypoint', h('span', { id: 'config-entrypoint' }, json(c.Entrypoint))],
        ['Cmd', h('span', { id: 'config-cmd' }, json(c.Cmd))],
        ['Working dir', c.WorkingDir ? h('code', {}, String(c.WorkingDir)) : '—'],
        ['User', c.User ? h('code', {}, String(c.User)) : '—'],
      ].map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
    ),
    h('h3', {}, 'Environment'),
    env.length ? h('ul', { id: 'config-env', class: 'plain' }, env.map((e) => h('li', {}, h('code', {}, e)))) : h('p', { class: 'muted' }, 'None.'),
    h('h3', {}, 'Labels'),
    labels.length ? table('config-labels', ['Label', 'Value'], labels.map(([k, v]) => [h('code', {}, k), String(v)])) : h('p', { class: 'muted' }, 'None.'),
  ];
}

/** The referrers of `digest`, and theirs, as nested lists; undefined when there are none. */
async function referrersTree(name, digest, depth, seen) {
  const entries = await api.referrers(name, digest);
  if (entries.length === 0) return undefined;
  const items = [];
  for (const d of entries) {
    const li = h(
      'li',
      { 'data-digest': d.digest },
      h('span', { class: 'badge' }, String(d.artifactType ?? d.mediaType ?? 'manifest')),
      ' ',
      h('a', { href: imageHref(name, d.digest) }, d.digest),
      ' ',
      h('span', { class: 'muted' }, formatBytes(d.size)),
    );
    const annotations = d.annotations && typeof d.annotations === 'object' ? Object.entries(d.annotations) : [];
    if (annotations.length) append(li, [h('ul', { class: 'plain' }, annotations.map(([k, v]) => h('li', {}, h('code', {}, k), ' = ', String(v))))]);
    if (depth > 1 && !seen.has(d.digest)) {
      seen.add(d.digest);
      const sub = await referrersTree(name, d.digest, depth - 1, seen);
      if (sub) append(li, [sub]);
    }
    items.push(li);
  }
  return h('ul', { class: 'tree' }, items);
}

// ---- login and routing ----------------------------------------------------------------------

function renderLogin(message) {
  const user = h('input', { id: 'username', name: 'username', autocomplete: 'username', required: true, 'aria-label': 'Username' });
  const password = h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true, 'aria-label': 'Password' });
  const form = h(
    'form',
    {
      id: 'login',
      class: 'login',
      onsubmit: (event) => {
        event.preventDefault();
        api.setCredentials(user.value, password.value);
        void render();
      },
    },
    h('label', {}, 'Username', user),
    h('label', {}, 'Password', password),
    h('button', { type: 'submit' }, 'Log in'),
  );
  view.replaceChildren(h('h2', {}, 'Log in'), h('p', { id: 'login-message', class: 'muted' }, message), form);
  user.focus();
}

function parseRoute(hash) {
  const parts = hash.replace(/^#\/?/, '').split('/').map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return '';
    }
  });
  if (parts[0] === 'r' && parts.length === 2) return { view: 'repository', name: parts[1] };
  if (parts[0] === 'i' && parts.length === 3) return { view: 'image', name: parts[1], ref: parts[2] };
  return { view: 'repositories' };
}

async function render() {
  const mine = ++renderCount;
  const route = parseRoute(location.hash);
  view.setAttribute('aria-busy', 'true');
  try {
    if (route.view === 'repository') await renderRepository(route.name);
    else if (route.view === 'image') await renderImage(route.name, route.ref);
    else await renderRepositories();
  } catch (err) {
    if (mine !== renderCount) return;
    if (err instanceof api.LoginRequired) renderLogin(err.message);
    else view.replaceChildren(h('p', { class: 'error', id: 'error' }, String(err?.message ?? err)));
  } finally {
    if (mine === renderCount) {
      view.setAttribute('aria-busy', 'false');
      document.body.dataset.ready = String(mine);
    }
  }
}

document.getElementById('host').textContent = host();
window.addEventListener('hashchange', () => void render());
void render();
