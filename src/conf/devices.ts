// The <devices> list: one codec per device element; elements without a codec
// are kept verbatim (kind 'raw') so nothing a user wrote is lost.
import { ElementReader, type XmlElement, type XmlWriter } from '../util/xml.js';
import type { ParseContext } from './device-info.js';

export interface RawDevice {
  kind: 'raw';
  el: XmlElement;
}

/** Every typed device carries its element name as `kind`. */
export interface TypedDevice {
  kind: string;
}

export type Device = TypedDevice;

export interface DeviceCodec<T extends TypedDevice = TypedDevice> {
  parse(r: ElementReader, ctx: ParseContext): T;
  format(w: XmlWriter, d: T): void;
}

/** libvirt formats devices grouped by class in this order (virDomainDefFormatInternal). */
export const DEVICE_ORDER = [
  'emulator', 'disk', 'controller', 'lease', 'filesystem', 'interface', 'smartcard', 'serial', 'parallel',
  'console', 'channel', 'input', 'tpm', 'graphics', 'sound', 'audio', 'video', 'hostdev', 'redirdev',
  'redirfilter', 'hub', 'watchdog', 'memballoon', 'rng', 'nvram', 'panic', 'shmem', 'memory', 'iommu',
  'vsock', 'crypto', 'pstore',
] as const;

const codecs = new Map<string, DeviceCodec>();

export function registerDeviceCodec<T extends TypedDevice>(name: string, codec: DeviceCodec<T>): void {
  codecs.set(name, codec as unknown as DeviceCodec);
}

export function deviceName(d: Device): string {
  return d.kind === 'raw' ? (d as RawDevice).el.name : d.kind;
}

export function isRawDevice(d: Device): d is RawDevice {
  return d.kind === 'raw';
}

export function parseDevices(r: ElementReader, ctx: ParseContext): Device[] {
  const out: Device[] = [];
  for (const el of r.el.children) {
    r.markUsed(el);
    const codec = codecs.get(el.name);
    if (codec) {
      out.push(codec.parse(new ElementReader(el), ctx));
    } else {
      out.push({ kind: 'raw', el } as RawDevice);
    }
  }
  return out;
}

function orderIndex(name: string): number {
  const i = (DEVICE_ORDER as readonly string[]).indexOf(name);
  return i < 0 ? DEVICE_ORDER.length : i;
}

/** Canonical order: by device class, stable within a class. */
export function sortDevices(devices: Device[]): Device[] {
  return devices
    .map((d, i) => ({ d, i, o: orderIndex(deviceName(d)) }))
    .sort((a, b) => a.o - b.o || a.i - b.i)
    .map((x) => x.d);
}

export function formatDevices(w: XmlWriter, devices: Device[]): void {
  // libvirt always writes <devices>...</devices>, never a self-closing element
  w.open('devices');
  for (const d of sortDevices(devices)) {
    if (isRawDevice(d)) {
      w.raw(d.el);
      continue;
    }
    const codec = codecs.get(d.kind);
    if (!codec) throw new Error(`no formatter for device '${d.kind}'`);
    codec.format(w, d);
  }
  w.close('devices');
}

export function devicesOfKind<T extends TypedDevice>(devices: Device[], kind: string): T[] {
  return devices.filter((d) => d.kind === kind) as T[];
}
