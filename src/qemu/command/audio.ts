// <audio> backends as -audiodev (qemuBuildAudioCommandLine): the backend's own
// settings, then the <input>/<output> stream settings as "in"/"out". A setting we
// do not know is refused by name rather than dropped.
import type { Audio } from '../../conf/audio.js';
import type { XmlElement } from '../../util/xml.js';
import type { BuildContext } from './context.js';
import { devicesOf, unsupported } from './context.js';
import type { PropObject, PropValue } from './props.js';

const DRIVERS: Record<Audio['type'], string> = {
  none: 'none', alsa: 'alsa', coreaudio: 'coreaudio', jack: 'jack', oss: 'oss', pulseaudio: 'pa', sdl: 'sdl',
  spice: 'spice', file: 'wav', dbus: 'dbus', pipewire: 'pipewire',
};

type Kind = 'bool' | 'uint' | 'string';
/** Stream attributes every backend has, in QEMU's property order. */
const COMMON: [string, string, Kind][] = [
  ['mixingEngine', 'mixing-engine', 'bool'], ['fixedSettings', 'fixed-settings', 'bool'], ['voices', 'voices', 'uint'],
  ['bufferLength', 'buffer-length', 'uint'],
];
const SETTINGS: [string, string, Kind][] = [['frequency', 'frequency', 'uint'], ['channels', 'channels', 'uint'], ['format', 'format', 'string']];
/** Backend-specific stream attributes, after the common ones. */
const PER_TYPE: Partial<Record<Audio['type'], [string, string, Kind][]>> = {
  alsa: [['dev', 'dev', 'string']],
  coreaudio: [['bufferCount', 'buffer-count', 'uint']],
  jack: [['serverName', 'server-name', 'string'], ['clientName', 'client-name', 'string'], ['connectPorts', 'connect-ports', 'string'], ['exactName', 'exact-name', 'bool']],
  oss: [['dev', 'dev', 'string'], ['bufferCount', 'buffer-count', 'uint'], ['tryPoll', 'try-poll', 'bool']],
  pulseaudio: [['name', 'name', 'string'], ['streamName', 'stream-name', 'string'], ['latency', 'latency', 'uint']],
  pipewire: [['name', 'name', 'string'], ['streamName', 'stream-name', 'string'], ['latency', 'latency', 'uint']],
  sdl: [['bufferCount', 'buffer-count', 'uint']],
};

function value(v: string, kind: Kind): PropValue {
  if (kind === 'bool') return v === 'yes';
  if (kind === 'uint') return Number(v);
  return v;
}

/** One <input>/<output> element as QEMU's stream properties. */
function streamProps(a: Audio, el: XmlElement): PropObject {
  const props: PropObject = {};
  const table = [...COMMON, ...(PER_TYPE[a.type] ?? [])];
  const known = new Set(table.map(([k]) => k));
  for (const k of el.attrs.keys()) if (!known.has(k)) unsupported(`<audio type='${a.type}'><${el.name} ${k}>`);
  const take = (list: [string, string, Kind][], attrs: Map<string, string>) => {
    for (const [attr, prop, kind] of list) {
      const v = attrs.get(attr);
      if (v !== undefined) props[prop] = value(v, kind);
    }
  };
  take(COMMON, el.attrs);
  for (const c of el.children) {
    if (c.name !== 'settings') unsupported(`<audio><${el.name}><${c.name}>`);
    for (const k of c.attrs.keys()) if (!SETTINGS.some(([s]) => s === k)) unsupported(`<audio><${el.name}><settings ${k}>`);
    take(SETTINGS, c.attrs);
  }
  take(PER_TYPE[a.type] ?? [], el.attrs);
  return props;
}

export function buildAudio(ctx: BuildContext): void {
  for (const a of devicesOf<Audio>(ctx, 'audio')) {
    const props: PropObject = { id: `audio${a.id}`, driver: DRIVERS[a.type], 'timer-period': a.timerPeriod };
    if (a.extra?.attrs.length) unsupported(`<audio ${a.extra.attrs[0]![0]}>`);
    switch (a.type) {
      case 'oss':
        Object.assign(props, {
          'try-mmap': a.tryMMap === undefined ? undefined : a.tryMMap === 'yes',
          exclusive: a.exclusive === undefined ? undefined : a.exclusive === 'yes',
          'dsp-policy': a.dspPolicy,
        });
        break;
      case 'pulseaudio':
        props.server = a.serverName;
        break;
      case 'file':
        props.path = a.path;
        break;
      case 'pipewire':
      {
        const dir = a.runtimeDir ?? ctx.profile.pipewireRuntimeDir;
        if (dir !== undefined) ctx.argv.setEnv('PIPEWIRE_RUNTIME_DIR', dir);
      }
        break;
      case 'sdl':
        if (a.driver !== undefined) ctx.argv.setEnv('SDL_AUDIODRIVER', a.driver);
        break;
      default:
        break;
    }
    for (const c of a.extra?.children ?? []) {
      if (c.name === 'input') props.in = streamProps(a, c);
      else if (c.name === 'output') props.out = streamProps(a, c);
      else unsupported(`<audio><${c.name}>`);
    }
    ctx.argv.add('-audiodev', JSON.stringify(props));
  }
}
