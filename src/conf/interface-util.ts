// Small helpers shared by the <interface>/<hostdev> modules (attribute readers
// are in props.ts): the long-long reader, and the text forms of MAC, UUID and IP
// addresses as libvirt prints them.
import { isIPv4, isIPv6 } from 'node:net';
import { XmlError } from '../util/errors.js';
import type { Attrs, ElementReader, Extra, XmlWriter } from '../util/xml.js';

/** virXMLPropLongLong with base 10; kept as decimal text (the range is wider than a JS number's). */
export function parseLongLong10(r: ElementReader, name: string): string | undefined {
  const raw = r.attr(name);
  if (raw === undefined) return undefined;
  const m = /^\s*([-+]?[0-9]+)$/.exec(raw);
  const v = m ? BigInt(m[1]) : undefined;
  if (v === undefined || v > 0x7fffffffffffffffn || v < -0x8000000000000000n) {
    throw new XmlError(`Invalid value for attribute '${name}' in element '${r.name}': '${raw}'. Expected long long integer value`);
  }
  return v.toString();
}

/** virXMLPropStringRequired */
export function requiredAttr(r: ElementReader, name: string): string {
  const v = r.attr(name);
  if (v === undefined) throw new XmlError(`Missing required attribute '${name}' in element '${r.name}'`);
  return v;
}

/** libvirt's XPath string(...) reads an empty value as absent. */
export function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v;
}

/** Write `<name attrs/>` unless it has neither attributes nor kept XML (virXMLFormatElement). */
export function emitEmpty(w: XmlWriter, name: string, attrs: [string, string | number | undefined][], extra?: Extra): void {
  if (!extra && attrs.every(([, v]) => v === undefined)) return;
  w.empty(name, attrs as Attrs, extra);
}

// ---- MAC addresses (virMacAddrParse / virMacAddrFormat) ----

const MAC_RE = /^([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})/;

/** Six octets, or undefined when libvirt would refuse the text (1-2 hex digits each; anything after a space is ignored). */
export function parseMacOctets(text: string): number[] | undefined {
  const m = MAC_RE.exec(text);
  if (!m) return undefined;
  const rest = text.slice(m[0].length);
  if (rest !== '' && rest.charCodeAt(0) > 0x20) return undefined;
  return m.slice(1, 7).map((x) => parseInt(x, 16));
}

export function formatMac(octets: number[]): string {
  return octets.map((o) => o.toString(16).padStart(2, '0')).join(':');
}

/** Parse a MAC as <mac address=...> does: lower-case canonical text, unicast only. */
export function parseMacAddress(text: string): string {
  const o = parseMacOctets(text);
  if (!o) throw new XmlError(`unable to parse mac address '${text}'`);
  if (o[0] & 1) throw new XmlError(`expected unicast mac address, found multicast '${text}'`);
  return formatMac(o);
}

export function isAllZeroMac(mac: string): boolean {
  return mac === '00:00:00:00:00:00';
}

// ---- UUIDs (virUUIDParse / virUUIDFormat) ----

/** Canonical lower-case UUID, or undefined when virUUIDParse would fail (dashes/spaces between digits allowed). */
export function normalizeUuid(text: string): string | undefined {
  const s = text.trim();
  const hex = s.replace(/[-\s]/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex) || s.startsWith('-')) return undefined;
  const h = hex.toLowerCase();
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// ---- IP addresses (virSocketAddrParse / virSocketAddrFormat) ----

export type IpFamily = 'ipv4' | 'ipv6';

export function ipFamily(text: string): IpFamily | undefined {
  if (isIPv4(text)) return 'ipv4';
  if (isIPv6(text)) return 'ipv6';
  return undefined;
}

function ipv6Words(text: string): number[] {
  let s = text;
  let tail: number[] = [];
  if (s.includes('.')) {
    // Embedded IPv4 tail: two 16-bit words.
    const cut = s.lastIndexOf(':');
    const b = s.slice(cut + 1).split('.').map(Number);
    tail = [(b[0] << 8) | b[1], (b[2] << 8) | b[3]];
    s = s.slice(0, cut + 1);
    if (!s.endsWith('::')) s = s.slice(0, -1);
  }
  const [head, rest] = s.includes('::') ? s.split('::') : [s, undefined];
  const parse = (p: string) => (p === '' ? [] : p.split(':').map((x) => parseInt(x, 16)));
  const h = parse(head);
  const r = rest === undefined ? [] : parse(rest);
  const fill = rest === undefined ? [] : new Array<number>(8 - tail.length - h.length - r.length).fill(0);
  return [...h, ...fill, ...r, ...tail];
}

/** inet_ntop(AF_INET6) text: lower-case, longest zero run (>= 2 words) compressed, IPv4 tails where glibc uses them. */
function formatIpv6(w: number[]): string {
  let best = { base: -1, len: 0 };
  let cur = { base: -1, len: 0 };
  for (let i = 0; i < 8; i++) {
    if (w[i] === 0) {
      if (cur.base === -1) cur = { base: i, len: 1 };
      else cur.len++;
      if (cur.len > best.len) best = { ...cur };
    } else cur = { base: -1, len: 0 };
  }
  if (best.len < 2) best = { base: -1, len: 0 };
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (best.base !== -1 && i >= best.base && i < best.base + best.len) {
      if (i === best.base) out += ':';
      continue;
    }
    if (i !== 0) out += ':';
    if (i === 6 && best.base === 0 && (best.len === 6 || (best.len === 7 && w[7] !== 1) || (best.len === 5 && w[5] === 0xffff))) {
      out += `${w[6] >> 8}.${w[6] & 0xff}.${w[7] >> 8}.${w[7] & 0xff}`;
      return out;
    }
    out += w[i].toString(16);
  }
  if (best.base !== -1 && best.base + best.len === 8) out += ':';
  return out;
}

/** The address as libvirt prints it, or undefined when it is not a numeric IPv4/IPv6 address. */
export function normalizeIp(text: string): string | undefined {
  if (isIPv4(text)) return text;
  if (isIPv6(text)) {
    // A zone (fe80::1%eth0) stays as written, as getnameinfo prints it.
    const zone = text.indexOf('%');
    return zone < 0 ? formatIpv6(ipv6Words(text)) : formatIpv6(ipv6Words(text.slice(0, zone))) + text.slice(zone);
  }
  return undefined;
}

/** The address as an integer (32 or 128 bits), for prefix/netmask arithmetic. */
export function ipToBigInt(text: string): bigint {
  if (isIPv4(text)) return text.split('.').reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n);
  const zone = text.indexOf('%');
  return ipv6Words(zone < 0 ? text : text.slice(0, zone)).reduce((acc, w) => (acc << 16n) | BigInt(w), 0n);
}
