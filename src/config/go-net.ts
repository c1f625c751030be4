/**
 * The few pieces of Go's `net` and `strconv` packages whose behaviour shows through
 * Docker's registry configuration: `SplitHostPort`, `ParseIP`, `ParseCIDR`, `Atoi` and
 * `%q` quoting. Docker's error texts embed their results, so gantry reproduces them
 * rather than using Node's looser or stricter equivalents.
 */

/** An IP address as a number: 32 bits for IPv4, 128 for IPv6. */
export interface IpAddress {
  readonly family: 4 | 6;
  readonly value: bigint;
  /** An IPv6 zone (`fe80::1%eth0`); such an address is inside no prefix. */
  readonly zone?: string;
}

/** A network prefix, masked (`102.10.8.1/24` is `102.10.8.0/24`). */
export interface IpPrefix {
  readonly family: 4 | 6;
  readonly network: bigint;
  readonly bits: number;
}

const BITS = { 4: 32, 6: 128 } as const;

/** Go's `strconv.Quote` for the strings Docker quotes: printable text kept, the rest escaped. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0) ?? 0;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (c >= 0x20 && c < 0x7f) out += ch;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else if (c >= 0x80 && c < 0xa0) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/**
 * Go's `net.SplitHostPort`: `host:port` or `[v6]:port`; `undefined` where Go returns an
 * error (no port, too many colons, misplaced brackets), and callers then use the whole string.
 */
export function splitHostPort(hostport: string): { host: string; port: string } | undefined {
  const i = hostport.lastIndexOf(':');
  if (i < 0) return undefined;
  let host: string;
  let j = 0;
  let k = 0;
  if (hostport.startsWith('[')) {
    const end = hostport.indexOf(']');
    if (end < 0 || end + 1 !== i) return undefined;
    host = hostport.slice(1, end);
    j = 1;
    k = end + 1;
  } else {
    host = hostport.slice(0, i);
    if (host.includes(':')) return undefined;
  }
  if (hostport.slice(j).includes('[') || hostport.slice(k).includes(']')) return undefined;
  return { host, port: hostport.slice(i + 1) };
}

/** Go's `strconv.Atoi`, with its error text. */
export function goAtoi(s: string): number {
  if (!/^[+-]?[0-9]+$/.test(s)) throw new Error(`strconv.Atoi: parsing ${goQuote(s)}: invalid syntax`);
  const n = BigInt(s);
  if (n > 9223372036854775807n || n < -9223372036854775808n) {
    throw new Error(`strconv.Atoi: parsing ${goQuote(s)}: value out of range`);
  }
  return Number(n);
}

/** Go's `net.ParseIP` (no zone) or, with `allowZone`, `netip.ParseAddr`. */
export function parseIp(s: string, options: { allowZone?: boolean } = {}): IpAddress | undefined {
  const v4 = parseIPv4(s);
  if (v4 !== undefined) return { family: 4, value: v4 };
  let text = s;
  let zone: string | undefined;
  const pct = s.indexOf('%');
  if (pct >= 0) {
    if (!options.allowZone || pct === s.length - 1) return undefined;
    zone = s.slice(pct + 1);
    text = s.slice(0, pct);
  }
  const v6 = parseIPv6(text);
  if (v6 === undefined) return undefined;
  return zone === undefined ? { family: 6, value: v6 } : { family: 6, value: v6, zone };
}

/** `::ffff:a.b.c.d` as the IPv4 address it carries (netip's `Unmap`). */
export function unmap(ip: IpAddress): IpAddress {
  if (ip.family === 6 && ip.zone === undefined && ip.value >> 32n === 0xffffn) return { family: 4, value: ip.value & 0xffffffffn };
  return ip;
}

/** Go's `ParseCIDR` (as `netip.ParsePrefix`: no leading zeros in the length), masked. */
export function parseCidr(s: string): IpPrefix | undefined {
  const slash = s.indexOf('/');
  if (slash < 0) return undefined;
  const ip = parseIp(s.slice(0, slash));
  const bitsText = s.slice(slash + 1);
  if (ip === undefined || !/^(?:0|[1-9][0-9]{0,2})$/.test(bitsText)) return undefined;
  const bits = Number(bitsText);
  const width = BITS[ip.family];
  if (bits > width) return undefined;
  return { family: ip.family, network: ip.value & mask(width, bits), bits };
}

/** Whether `ip` lies inside `prefix`; a zoned address lies in none. */
export function prefixContains(prefix: IpPrefix, ip: IpAddress): boolean {
  if (ip.family !== prefix.family || ip.zone !== undefined) return false;
  return (ip.value & mask(BITS[prefix.family], prefix.bits)) === prefix.network;
}

export function formatPrefix(prefix: IpPrefix): string {
  return `${formatIp({ family: prefix.family, value: prefix.network })}/${prefix.bits}`;
}

/** The canonical text of an address (RFC 5952 for IPv6, as Go's `netip` prints it). */
export function formatIp(ip: IpAddress): string {
  if (ip.family === 4) return formatIPv4(ip.value);
  if (ip.value >> 32n === 0xffffn) return `::ffff:${formatIPv4(ip.value & 0xffffffffn)}`;
  const groups = Array.from({ length: 8 }, (_, i) => Number((ip.value >> BigInt(112 - 16 * i)) & 0xffffn));
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  const text =
    bestStart < 0 ? hex.join(':') : `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
  return ip.zone === undefined ? text : `${text}%${ip.zone}`;
}

function mask(width: number, bits: number): bigint {
  const all = (1n << BigInt(width)) - 1n;
  return (all >> BigInt(width - bits)) << BigInt(width - bits);
}

function formatIPv4(v: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 0xffn)).join('.');
}

/** Dotted quad with no leading zeros (Go 1.17+ refuses them as ambiguous octal). */
function parseIPv4(s: string): bigint | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  let v = 0n;
  for (const p of parts) {
    if (!/^(?:0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    v = (v << 8n) | BigInt(n);
  }
  return v;
}

function parseIPv6(s: string): bigint | undefined {
  const ellipsis = s.indexOf('::');
  if (ellipsis >= 0 && s.indexOf('::', ellipsis + 1) >= 0) return undefined;
  const head = ellipsis < 0 ? s : s.slice(0, ellipsis);
  const tail = ellipsis < 0 ? '' : s.slice(ellipsis + 2);
  const headGroups = groupsOf(head, ellipsis < 0);
  const tailGroups = groupsOf(tail, true);
  if (headGroups === undefined || tailGroups === undefined) return undefined;
  const count = headGroups.length + tailGroups.length;
  if (ellipsis < 0 ? count !== 8 : count > 7) return undefined;
  const groups = [...headGroups, ...Array<number>(8 - count).fill(0), ...tailGroups];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
}

/** Colon-separated hex groups; the last may be a dotted IPv4 address worth two groups. */
function groupsOf(part: string, lastMayBeV4: boolean): number[] | undefined {
  if (part === '') return [];
  const out: number[] = [];
  const pieces = part.split(':');
  for (const [i, g] of pieces.entries()) {
    if (lastMayBeV4 && i === pieces.length - 1 && g.includes('.')) {
      const v4 = parseIPv4(g);
      if (v4 === undefined) return undefined;
      out.push(Number(v4 >> 16n), Number(v4 & 0xffffn));
    } else if (/^[0-9a-fA-F]{1,4}$/.test(g)) {
      out.push(parseInt(g, 16));
    } else {
      return undefined;
    }
  }
  return out;
}

