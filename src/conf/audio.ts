// <audio id='1' type='none'/>: audio backends (virDomainAudioDef). The
// backend attributes are typed; <input>/<output> are kept as written.
import { XmlError } from '../util/errors.js';
import type { ElementReader, Extra, XmlWriter } from '../util/xml.js';
import { attrsOf, orderedChildren } from './children.js';
import type { YesNo } from './common.js';
import { propEnum, propInt, propUInt, propYesNo } from './props.js';
import type { Device } from './devices.js';

export const AUDIO_TYPES = [
  'none', 'alsa', 'coreaudio', 'jack', 'oss', 'pulseaudio', 'sdl', 'spice', 'file', 'dbus', 'pipewire',
] as const;
export type AudioType = (typeof AUDIO_TYPES)[number];
export const AUDIO_SDL_DRIVERS = ['default', 'esd', 'alsa', 'arts', 'pulseaudio'] as const;

export interface Audio {
  kind: 'audio';
  id: number;
  type: AudioType;
  timerPeriod?: number;
  /** oss */
  tryMMap?: YesNo;
  exclusive?: YesNo;
  dspPolicy?: number;
  /** pulseaudio */
  serverName?: string;
  /** sdl */
  driver?: string;
  /** file */
  path?: string;
  /** pipewire */
  runtimeDir?: string;
  /** <input>, <output> and unknown children/attributes, as written */
  extra?: Extra;
}

export function newAudio(id: number, type: AudioType): Audio {
  return { kind: 'audio', id, type };
}

/** virDomainAudioDefParseXML (the <input>/<output> settings are kept verbatim) */
export function parseAudio(r: ElementReader): Audio {
  const a: Audio = {
    kind: 'audio',
    type: propEnum(r, 'type', AUDIO_TYPES, { required: true })!,
    id: propUInt(r, 'id', { required: true, nonzero: true })!,
  };
  const timer = propUInt(r, 'timerPeriod', { nonzero: true });
  if (timer !== undefined) a.timerPeriod = timer;
  switch (a.type) {
    case 'oss': {
      const tryMMap = propYesNo(r, 'tryMMap');
      const exclusive = propYesNo(r, 'exclusive');
      const dsp = propInt(r, 'dspPolicy');
      if (tryMMap) a.tryMMap = tryMMap;
      if (exclusive) a.exclusive = exclusive;
      if (dsp !== undefined) {
        if (dsp < 0) throw new XmlError(`cannot parse 'dspPolicy' value '${dsp}'`);
        a.dspPolicy = dsp;
      }
      break;
    }
    case 'pulseaudio': {
      const v = r.attr('serverName');
      if (v !== undefined) a.serverName = v;
      break;
    }
    case 'sdl': {
      const v = propEnum(r, 'driver', AUDIO_SDL_DRIVERS, { nonzero: true });
      if (v) a.driver = v;
      break;
    }
    case 'file': {
      const v = r.attr('path');
      if (v !== undefined) a.path = v;
      break;
    }
    case 'pipewire': {
      const v = r.attr('runtimeDir');
      if (v !== undefined) a.runtimeDir = v;
      break;
    }
    default:
      break;
  }
  const extra = r.rest();
  if (extra) a.extra = extra;
  return a;
}

/** virDomainAudioDefFormat */
export function formatAudio(w: XmlWriter, a: Audio): void {
  const attrs: [string, string | number | undefined][] = [['id', a.id], ['type', a.type], ['timerPeriod', a.timerPeriod]];
  if (a.type === 'oss') attrs.push(['tryMMap', a.tryMMap], ['exclusive', a.exclusive], ['dspPolicy', a.dspPolicy]);
  else if (a.type === 'pulseaudio') attrs.push(['serverName', a.serverName]);
  else if (a.type === 'sdl') attrs.push(['driver', a.driver]);
  else if (a.type === 'file') attrs.push(['path', a.path]);
  else if (a.type === 'pipewire') attrs.push(['runtimeDir', a.runtimeDir]);
  w.element('audio', attrs, () => orderedChildren(w, ['input', 'output'], {}, a.extra), attrsOf(a.extra));
}

/** The checks run for each <audio> at define (listed in validate.ts). */
export function validateAudioDevice(a: Audio, devices: readonly Device[]): void {
  if (devices.some((d) => d !== a && d.kind === 'audio' && (d as Audio).id === a.id)) {
    throw new XmlError(`audio ID ${a.id} is used multiple times`);
  }
}
