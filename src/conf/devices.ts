// What every device shares: its element name as `kind`, raw (kept verbatim) devices and libvirt's
// device order. Which element has which codec is listed in device-table.ts.
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

export function deviceName(d: Device): string {
  return d.kind === 'raw' ? (d as RawDevice).el.name : d.kind;
}

export function isRawDevice(d: Device): d is RawDevice {
  return d.kind === 'raw';
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

export function devicesOfKind<T extends TypedDevice>(devices: Device[], kind: string): T[] {
  return devices.filter((d) => d.kind === kind) as T[];
}
