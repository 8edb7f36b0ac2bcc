// Property objects for -device/-netdev/-object/-blockdev/-audiodev and the argv
// builder. Objects keep insertion order, which is libvirt's property order; an
// `undefined` value means "not set" and is left out, like libvirt's optional
// (S:/T:/p:/k:) virJSONValueObjectAdd arguments.
import type { QemuCaps } from '../caps/index.js';

export type PropValue = string | number | bigint | boolean | null | undefined | PropObject | PropValue[];
export interface PropObject {
  [key: string]: PropValue;
}

/** libvirt's "T:" tristate: on/yes -> true, off/no -> false, absent -> not set. */
export function tristate(v: string | undefined): boolean | undefined {
  if (v === 'on' || v === 'yes') return true;
  if (v === 'off' || v === 'no') return false;
  return undefined;
}

/** libvirt's "p:"/"P:": only positive numbers are emitted. */
export function positive(n: number | undefined): number | undefined {
  return n !== undefined && n > 0 ? n : undefined;
}

/** libvirt's "B:": only `true` is emitted. */
export function onlyTrue(b: boolean | undefined): true | undefined {
  return b ? true : undefined;
}

/** Compact JSON, as virJSONValueToString(props, false) prints it. */
export function propsToJson(props: PropObject): string {
  let big = false;
  const text = JSON.stringify(props, (_k, v: unknown) => {
    if (typeof v !== 'bigint') return v;
    big = true;
    return `\u0000bigint:${v}`;
  });
  // 64-bit integers (a disk's wwn) are written as JSON numbers without losing digits.
  return big ? text.replace(/"\\u0000bigint:(-?\d+)"/g, '$1') : text;
}

/** `a,b` -> `a,,b`: QEMU's option syntax escapes commas by doubling them (virQEMUBuildBufferEscapeComma). */
export function escapeComma(s: string): string {
  return s.replace(/,/g, ',,');
}

function keyvalParts(prefix: string, v: PropValue, out: string[]): void {
  if (v === undefined || v === null) return;
  if (Array.isArray(v)) {
    for (const item of v) keyvalParts(prefix, item, out);
  } else if (typeof v === 'object') {
    for (const [k, sub] of Object.entries(v)) keyvalParts(prefix ? `${prefix}.${k}` : k, sub, out);
  } else if (typeof v === 'boolean') {
    out.push(`${prefix}=${v ? 'on' : 'off'}`);
  } else {
    out.push(`${prefix}=${escapeComma(String(v))}`);
  }
}

/**
 * The pre-JSON `type,key=value,...` form (virQEMUBuildCommandLineJSON): the
 * `lead` property's value first, nested objects as dotted keys, booleans as on/off.
 */
export function propsToKeyval(props: PropObject, lead: string): string {
  const parts: string[] = [];
  const head = props[lead];
  if (head !== undefined) parts.push(escapeComma(String(head)));
  for (const [k, v] of Object.entries(props)) if (k !== lead) keyvalParts(k, v, parts);
  return parts.join(',');
}

/** Collects environment and arguments in the order libvirt adds them. */
export class ArgvBuilder {
  readonly env: [string, string][] = [];
  readonly args: string[] = [];
  constructor(private readonly caps: QemuCaps) {}

  add(...args: string[]): void {
    this.args.push(...args);
  }

  /** virCommandAddEnvPair: a second value for the same name replaces the first in place. */
  setEnv(name: string, value: string): void {
    const i = this.env.findIndex(([k]) => k === name);
    if (i >= 0) this.env[i] = [name, value];
    else this.env.push([name, value]);
  }

  /** -device: JSON when QEMU accepts it (libvirt's device.json flag), key=value otherwise. */
  device(props: PropObject): void {
    const json = this.caps.flags.has('device.json+hotplug') || this.caps.flags.has('device.json');
    this.add('-device', json ? propsToJson(props) : propsToKeyval(props, 'driver'));
  }

  netdev(props: PropObject): void {
    this.add('-netdev', this.caps.flags.has('netdev.json') ? propsToJson(props) : propsToKeyval(props, 'type'));
  }

  /** -object is always JSON for the QEMU versions libvirt 11 supports. */
  object(props: PropObject): void {
    this.add('-object', propsToJson(props));
  }

  blockdev(props: PropObject): void {
    this.add('-blockdev', propsToJson(props));
  }
}
