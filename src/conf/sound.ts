// <sound model='ich9'><codec type='duplex'/><audio id='1'/></sound>:
// type, parse, format, validation (virDomainSoundDef*).
import { ConfigUnsupportedError, XmlError } from '../util/errors.js';
import type { ElementReader, Extra, XmlWriter } from '../util/xml.js';
import { attrsOf, orderedChildren } from './children.js';
import { type DeviceInfo, formatDeviceInfo, parseDeviceInfo } from './device-info.js';
import { type Device } from './devices.js';
import type { YesNo } from './common.js';
import { propEnum, propUInt, propYesNo } from './props.js';
import { type VirtioOptions, parseVirtioOptions, virtioOptionAttrs } from './virtio-options.js';

export const SOUND_MODELS = ['sb16', 'es1370', 'pcspk', 'ac97', 'ich6', 'ich9', 'usb', 'ich7', 'virtio'] as const;
export type SoundModel = (typeof SOUND_MODELS)[number];
export const SOUND_CODECS = ['duplex', 'micro', 'output'] as const;
export type SoundCodec = (typeof SOUND_CODECS)[number];

export interface Sound {
  kind: 'sound';
  model: SoundModel;
  /** ich6/ich9 only */
  codecs: SoundCodec[];
  /** usb only */
  multichannel?: YesNo;
  /** virtio only; libvirt writes it even when 0 (post-parse sets 2) */
  streams?: number;
  /** <audio id='N'/>: the <audio> backend used */
  audioId?: number;
  driver?: { virtio?: VirtioOptions; extra?: Extra };
  info: DeviceInfo;
  extra?: Extra;
}

/** virDomainSoundDefParseXML */
export function parseSound(r: ElementReader, ctx: { inactive: boolean }): Sound {
  const s: Sound = { kind: 'sound', model: propEnum(r, 'model', SOUND_MODELS, { required: true })!, codecs: [], info: {} };
  if (s.model === 'ich6' || s.model === 'ich9') {
    for (const c of r.children('codec')) {
      const type = c.attr('type');
      if (type === undefined || !(SOUND_CODECS as readonly string[]).includes(type)) {
        throw new ConfigUnsupportedError(`unknown codec type '${type ?? '(null)'}'`);
      }
      s.codecs.push(type as SoundCodec);
    }
  }
  if (s.model === 'usb') {
    const mc = propYesNo(r, 'multichannel');
    if (mc) s.multichannel = mc;
  }
  if (s.model === 'virtio') {
    const streams = propUInt(r, 'streams', { nonzero: true });
    if (streams !== undefined) s.streams = streams;
  }
  const audio = r.child('audio');
  if (audio) s.audioId = propUInt(audio, 'id', { required: true, nonzero: true });
  s.info = parseDeviceInfo(r, ctx);
  delete s.info.boot;
  delete s.info.rom;
  const driver = r.child('driver');
  if (driver) {
    s.driver = {};
    const virtio = parseVirtioOptions(driver);
    if (virtio) s.driver.virtio = virtio;
    const extra = driver.rest();
    if (extra) s.driver.extra = extra;
  }
  const extra = r.rest();
  if (extra) s.extra = extra;
  return s;
}

/** virDomainSoundDefFormat */
export function formatSound(w: XmlWriter, s: Sound): void {
  const attrs: [string, string | number | undefined][] = [
    ['model', s.model],
    ['multichannel', s.model === 'usb' ? s.multichannel : undefined],
    ['streams', s.model === 'virtio' ? s.streams ?? 0 : undefined],
  ];
  w.element('sound', attrs, () => orderedChildren(w, ['codec', 'audio', 'info', 'driver'], {
    codec: () => s.codecs.forEach((c) => w.empty('codec', [['type', c]])),
    audio: () => s.audioId && w.empty('audio', [['id', s.audioId]]),
    info: () => formatDeviceInfo(w, s.info, { allowBoot: false }),
    driver: () => {
      if (s.model === 'virtio' || s.driver?.extra) {
        const a = virtioOptionAttrs(s.driver?.virtio);
        if (a.some(([, v]) => v !== undefined) || s.driver?.extra) w.empty('driver', a, s.driver?.extra);
      }
    },
  }, s.extra), attrsOf(s.extra));
}

/** virDomainEnsureAudioID: a referenced <audio id> must exist. */
export function ensureAudioId(devices: readonly Device[], id: number | undefined): void {
  if (!id) return;
  if (!devices.some((d) => d.kind === 'audio' && (d as { id?: number }).id === id)) {
    throw new XmlError(`no audio device with ID ${id}`);
  }
}

