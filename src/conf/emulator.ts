// <emulator>/usr/bin/qemu-system-x86_64</emulator>: a text element that
// libvirt formats first inside <devices> (def->emulator).
import type { ElementReader, Extra, XmlWriter } from '../util/xml.js';
import { type Device } from './devices.js';

export interface Emulator {
  kind: 'emulator';
  /** The binary path, as written (libvirt's string(./devices/emulator[1])). */
  path: string;
  extra?: Extra;
}

export function newEmulator(path: string): Emulator {
  return { kind: 'emulator', path };
}

export function parseEmulator(r: ElementReader): Emulator {
  const e: Emulator = { kind: 'emulator', path: r.text() };
  const extra = r.rest();
  if (extra) e.extra = extra;
  return e;
}

/** An empty <emulator/> reads as no emulator in libvirt (virXPathString gives NULL), so nothing is written. */
export function formatEmulator(w: XmlWriter, e: Emulator): void {
  if (e.path === '' && !e.extra) return;
  if (e.path === '') {
    w.element('emulator', [], () => w.extraChildren({ attrs: [], children: e.extra?.children ?? [] }), { attrs: e.extra?.attrs ?? [], children: [] });
    return;
  }
  w.textElement('emulator', e.path, undefined, e.extra);
}

/** The emulator binary of a device list (the first <emulator>, as libvirt reads it). */
export function findEmulator(devices: readonly Device[]): string | undefined {
  for (const d of devices) {
    if (d.kind === 'emulator') {
      const path = (d as Emulator).path;
      return path === '' ? undefined : path;
    }
  }
  return undefined;
}

