/* global document, Node */
/**
 * Building the page without HTML strings: every element comes from createElement, every
 * value from the registry goes in as a text node, and links only ever point inside the app
 * (`#/…`). The server's Trusted Types policy makes assigning a string as HTML throw, so this is
 * the only way the app can put things on the page.
 */

/** An element with attributes (`on…` functions become listeners) and children (nodes, or text). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'href') el.setAttribute('href', appHref(value));
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

/** Appends nodes as they are and anything else as text. */
export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Links stay inside the app: a value that is not a `#/` route is refused. */
function appHref(value) {
  const href = String(value);
  if (!href.startsWith('#/')) throw new Error(`not an app link: ${href}`);
  return href;
}

/** The app's route to a repository. */
export function repoHref(name) {
  return `#/r/${encodeURIComponent(name)}`;
}

/** The app's route to an image (a tag or a digest of `name`). */
export function imageHref(name, ref) {
  return `#/i/${encodeURIComponent(name)}/${encodeURIComponent(ref)}`;
}

/** `123 B`, or `1.2 KiB (1234 B)`: the exact count always shown, for copying and checking. */
export function formatBytes(n) {
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) return '—';
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]} (${n} B)`;
}

/** A config's `created` as ISO 8601 in UTC, or the text as given when it is not a date. */
export function formatCreated(value) {
  if (typeof value !== 'string' || value === '') return '—';
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? value : date.toISOString().replace('.000Z', 'Z');
}

/** `os/architecture[/variant]` of a descriptor's platform. */
export function formatPlatform(platform) {
  if (!platform || typeof platform !== 'object') return 'unknown';
  const parts = [platform.os, platform.architecture, platform.variant].filter((p) => typeof p === 'string' && p !== '');
  const text = parts.join('/') || 'unknown';
  return typeof platform['os.version'] === 'string' ? `${text} (${platform['os.version']})` : text;
}

/** A table: `head` labels (a `#` prefix right-aligns the column), then rows of cells. */
export function table(id, head, rows) {
  const cls = (label) => (label.startsWith('#') ? 'num' : undefined);
  return h(
    'table',
    { id },
    h('thead', {}, h('tr', {}, head.map((label) => h('th', { class: cls(label) }, label.replace(/^#/, ''))))),
    h('tbody', {}, rows.map((cells) => h('tr', {}, cells.map((cell, i) => h('td', { class: cls(head[i] ?? '') }, cell))))),
  );
}

/** A copy-paste command: the text and a button that puts it on the clipboard. */
export function command(text) {
  const code = h('code', { class: 'cmd' }, text);
  const button = h('button', {
    type: 'button',
    onclick: async () => {
      try {
        await navigatorClipboard().writeText(text);
        button.textContent = 'Copied';
      } catch {
        // No clipboard (plain http on another host): select the text for Ctrl+C instead.
        const range = document.createRange();
        range.selectNodeContents(code);
        const selection = document.getSelection();
        selection?.removeAllRanges();
        selection?.addRange(range);
        button.textContent = 'Selected';
      }
    },
  }, 'Copy');
  return h('div', { class: 'command' }, code, button);
}

function navigatorClipboard() {
  const clipboard = globalThis.navigator?.clipboard;
  if (!clipboard) throw new Error('no clipboard');
  return clipboard;
}
