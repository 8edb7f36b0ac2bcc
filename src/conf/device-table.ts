// Which device element has which parser and formatter, listed in one place like libvirt's
// virDomainDeviceDefParse switch. An element without an entry is kept verbatim (kind 'raw'), so nothing a
// user wrote is lost; lint reports it.
import { ElementReader, type XmlWriter } from '../util/xml.js';
import type { ParseContext } from './device-info.js';
import { isRawDevice, sortDevices, type Device, type DeviceCodec, type RawDevice, type TypedDevice } from './devices.js';
import { formatAudio, parseAudio, type Audio } from './audio.js';
import { CHR_DEVICE_KINDS, formatChardev, parseChardev, type Chardev } from './chardev.js';
import { formatController, parseController, type Controller } from './controller.js';
import { formatDisk, parseDisk, type Disk } from './disk.js';
import { formatEmulator, parseEmulator, type Emulator } from './emulator.js';
import { formatGraphics, parseGraphics, type Graphics } from './graphics.js';
import { formatHostdev, parseHostdev, type Hostdev } from './hostdev.js';
import { formatInput, parseInput, type Input } from './input.js';
import { formatInterface, parseInterface, type Interface } from './interface.js';
import { formatMemballoon, parseMemballoon, type Memballoon } from './memballoon.js';
import { formatPanic, parsePanic, type Panic } from './panic.js';
import { formatRedirdev, formatRedirfilter, parseRedirdev, parseRedirfilter, type Redirdev, type Redirfilter } from './redirdev.js';
import { formatRng, parseRng, type Rng } from './rng.js';
import { formatSound, parseSound, type Sound } from './sound.js';
import { formatVideo, parseVideo, type Video } from './video.js';
import { formatWatchdog, parseWatchdog, type Watchdog } from './watchdog.js';

function codec<T extends TypedDevice>(parse: (r: ElementReader, ctx: ParseContext) => T, format: (w: XmlWriter, d: T) => void): DeviceCodec {
  return { parse, format: format as (w: XmlWriter, d: TypedDevice) => void };
}

const chardev = codec<Chardev>(parseChardev, formatChardev);

const DEVICE_CODECS: ReadonlyMap<string, DeviceCodec> = new Map<string, DeviceCodec>([
  ['emulator', codec<Emulator>((r) => parseEmulator(r), formatEmulator)],
  ['disk', codec<Disk>(parseDisk, formatDisk)],
  ['controller', codec<Controller>(parseController, formatController)],
  ['interface', codec<Interface>(parseInterface, formatInterface)],
  ...CHR_DEVICE_KINDS.map((kind) => [kind, chardev] as const),
  ['input', codec<Input>(parseInput, formatInput)],
  ['graphics', codec<Graphics | RawDevice>((r, ctx) => parseGraphics(r, ctx), formatGraphics as (w: XmlWriter, d: Graphics | RawDevice) => void)],
  ['sound', codec<Sound>(parseSound, formatSound)],
  ['audio', codec<Audio>((r) => parseAudio(r), formatAudio)],
  ['video', codec<Video>(parseVideo, formatVideo)],
  ['hostdev', codec<Hostdev>(parseHostdev, formatHostdev)],
  ['redirdev', codec<Redirdev>(parseRedirdev, formatRedirdev)],
  ['redirfilter', codec<Redirfilter>((r) => parseRedirfilter(r), formatRedirfilter)],
  ['watchdog', codec<Watchdog>(parseWatchdog, formatWatchdog)],
  ['memballoon', codec<Memballoon>(parseMemballoon, formatMemballoon)],
  ['rng', codec<Rng>(parseRng, formatRng)],
  ['panic', codec<Panic>(parsePanic, formatPanic)],
]);

/** The children of <devices>, each typed by its codec or kept raw. */
export function parseDevices(r: ElementReader, ctx: ParseContext): Device[] {
  const out: Device[] = [];
  for (const el of r.el.children) {
    r.markUsed(el);
    const c = DEVICE_CODECS.get(el.name);
    out.push(c ? c.parse(new ElementReader(el), ctx) : ({ kind: 'raw', el } as RawDevice));
  }
  return out;
}

/** <devices> in libvirt's canonical order; libvirt always writes it open and closed, never self-closing. */
export function formatDevices(w: XmlWriter, devices: Device[]): void {
  w.open('devices');
  for (const d of sortDevices(devices)) {
    if (isRawDevice(d)) {
      w.raw(d.el);
      continue;
    }
    const c = DEVICE_CODECS.get(d.kind);
    if (!c) throw new Error(`no formatter for device '${d.kind}'`);
    c.format(w, d);
  }
  w.close('devices');
}
