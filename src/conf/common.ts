// Attribute helpers shared by the element modules; one message per kind of bad value.
import { XmlError } from '../util/errors.js';
import type { ElementReader } from '../util/xml.js';

/** Unsigned integer attribute; accepts decimal and 0x-hex like virXMLPropUInt with base 0. */
export function parseUIntAttr(r: ElementReader, name: string): number | undefined {
  const raw = r.attr(name);
  if (raw === undefined) return undefined;
  const v = parseUIntString(raw);
  if (v === undefined) {
    throw new XmlError(`Invalid value for attribute '${name}' in element '${r.name}': '${raw}'. Expected non-negative integer value`);
  }
  return v;
}

export function parseUIntString(raw: string): number | undefined {
  const s = raw.trim();
  let v: number;
  if (/^0x[0-9a-f]+$/i.test(s)) v = parseInt(s.slice(2), 16);
  else if (/^0[0-7]+$/.test(s)) v = parseInt(s, 8);
  else if (/^[0-9]+$/.test(s)) v = parseInt(s, 10);
  else return undefined;
  return Number.isSafeInteger(v) && v <= 0xffffffff ? v : undefined;
}

export const ON_OFF = ['on', 'off'] as const;
export type OnOff = (typeof ON_OFF)[number];
export const YES_NO = ['yes', 'no'] as const;
export type YesNo = (typeof YES_NO)[number];
