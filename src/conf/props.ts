// Attribute readers with libvirt's virXMLProp* semantics and messages: one
// message per kind of bad value, so every element reports errors alike.
import { XmlError } from '../util/errors.js';
import type { ElementReader } from '../util/xml.js';
import { ON_OFF, type OnOff, YES_NO, type YesNo } from './common.js';

export interface PropFlags {
  /** VIR_XML_PROP_REQUIRED */
  required?: boolean;
  /** VIR_XML_PROP_NONZERO: for enums, the table's index-0 value is refused too. */
  nonzero?: boolean;
  /** VIR_XML_PROP_NONNEGATIVE (signed readers) */
  nonnegative?: boolean;
  /** strtol base: 10 (default), 16 (an optional 0x prefix) or 0 (accepts 0x.. hex and 0.. octal). */
  base?: 10 | 16 | 0;
}

function missing(r: ElementReader, name: string): never {
  throw new XmlError(`Missing required attribute '${name}' in element '${r.name}'`);
}

function zero(r: ElementReader, name: string): never {
  throw new XmlError(`Invalid value for attribute '${name}' in element '${r.name}': Zero is not permitted`);
}

/** strtoll-like: optional leading blanks and sign, digits in base 10 or auto base; whole string. */
export function parseIntegerString(raw: string, base: 10 | 16 | 0): bigint | undefined {
  const m = /^[ \t\n\r\f\v]*([+-]?)(.*)$/s.exec(raw);
  if (!m) return undefined;
  const [, sign, body] = m;
  let digits: bigint;
  if (base === 16 && /^(0[xX])?[0-9a-fA-F]+$/.test(body)) digits = BigInt('0x' + body.replace(/^0[xX]/, ''));
  else if (base === 16) return undefined;
  else if (base === 0 && /^0[xX][0-9a-fA-F]+$/.test(body)) digits = BigInt('0x' + body.slice(2));
  else if (base === 0 && /^0[0-7]+$/.test(body)) digits = BigInt('0o' + body.slice(1));
  else if (/^[0-9]+$/.test(body)) digits = BigInt(body);
  else return undefined;
  return sign === '-' ? -digits : digits;
}

function rawOf(r: ElementReader, name: string, flags: PropFlags): string | undefined {
  const raw = r.attr(name);
  if (raw === undefined && flags.required) missing(r, name);
  return raw;
}

/** virXMLPropUInt / virStrToLong_uip: unsigned 32-bit, negatives refused. */
export function propUInt(r: ElementReader, name: string, flags: PropFlags = {}): number | undefined {
  const raw = rawOf(r, name, flags);
  if (raw === undefined) return undefined;
  const v = parseIntegerString(raw, flags.base ?? 10);
  if (v === undefined || v < 0n || v > 0xffffffffn) {
    throw new XmlError(`Invalid value for attribute '${name}' in element '${r.name}': '${raw}'. Expected non-negative integer value`);
  }
  if (flags.nonzero && v === 0n) zero(r, name);
  return Number(v);
}

/** virXMLPropULongLong: unsigned 64-bit (kept as a number; values above 2^53 are refused). */
export function propULongLong(r: ElementReader, name: string, flags: PropFlags = {}): number | undefined {
  const raw = rawOf(r, name, flags);
  if (raw === undefined) return undefined;
  const v = parseIntegerString(raw, flags.base ?? 10);
  if (v === undefined || v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new XmlError(`Invalid value for attribute '${name}' in element '${r.name}': '${raw}'. Expected non-negative integer value`);
  }
  if (flags.nonzero && v === 0n) zero(r, name);
  return Number(v);
}

/** virXMLPropInt: signed 32-bit. */
export function propInt(r: ElementReader, name: string, flags: PropFlags = {}): number | undefined {
  const raw = rawOf(r, name, flags);
  if (raw === undefined) return undefined;
  const v = parseIntegerString(raw, flags.base ?? 10);
  if (v === undefined || v < -0x80000000n || v > 0x7fffffffn) {
    throw new XmlError(`Invalid value for attribute '${name}' in element '${r.name}': '${raw}'. Expected integer value`);
  }
  if (flags.nonnegative && v < 0n) {
    throw new XmlError(`Invalid value for attribute '${name}' in element '${r.name}': '${raw}'. Expected non-negative value`);
  }
  if (flags.nonzero && v === 0n) zero(r, name);
  return Number(v);
}

/** virXMLPropLongLong: signed 64-bit (kept as a number). */
export function propLongLong(r: ElementReader, name: string, flags: PropFlags = {}): number | undefined {
  const raw = rawOf(r, name, flags);
  if (raw === undefined) return undefined;
  const v = parseIntegerString(raw, flags.base ?? 10);
  if (v === undefined || v < BigInt(Number.MIN_SAFE_INTEGER) || v > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new XmlError(`Invalid value for attribute '${name}' in element '${r.name}': '${raw}'. Expected long long integer value`);
  }
  if (flags.nonnegative && v < 0n) {
    throw new XmlError(`Invalid value for attribute '${name}' in element '${r.name}': '${raw}'. Expected non-negative value`);
  }
  if (flags.nonzero && v === 0n) zero(r, name);
  return Number(v);
}

/**
 * virXMLPropEnum: `values` is libvirt's whole table in order. With `nonzero`,
 * values[0] (the "default"/"none" slot) is refused like an unknown value.
 */
export function propEnum<T extends string>(
  r: ElementReader,
  name: string,
  values: readonly T[],
  flags: PropFlags = {},
): T | undefined {
  const raw = rawOf(r, name, flags);
  if (raw === undefined) return undefined;
  const i = (values as readonly string[]).indexOf(raw);
  if (i < 0 || (flags.nonzero && i === 0)) {
    throw new XmlError(`Invalid value for attribute '${name}' in element '${r.name}': '${raw}'.`);
  }
  return raw as T;
}


/** virXMLPropTristateSwitch: on/off only ('absent' is refused). */
export function propOnOff(r: ElementReader, name: string, flags: PropFlags = {}): OnOff | undefined {
  return propEnum(r, name, ON_OFF, flags);
}

/** virXMLPropTristateBool: yes/no only. */
export function propYesNo(r: ElementReader, name: string, flags: PropFlags = {}): YesNo | undefined {
  return propEnum(r, name, YES_NO, flags);
}

/** virFileSanitizePath: collapse repeated '/', drop a trailing one; a leading '//' and URIs stay. */
export function sanitizePath(path: string): string {
  const uri = path.indexOf('://');
  if (uri >= 0 && path.indexOf('/') > uri) return path;
  let out = '';
  let i = 0;
  if (path[0] === '/' && path[1] === '/' && path[2] !== '/') {
    out = '//';
    i = 2;
  }
  while (i < path.length) {
    if (path[i] !== '/') {
      out += path[i++];
      continue;
    }
    while (path[++i] === '/');
    if (out.length !== 0 && i >= path.length) break;
    out += '/';
  }
  return out;
}
