// <sound> (qemuBuildSoundCommandLine): one device per card, HDA cards with one
// codec device per <codec> (a duplex codec when none is given); the PC speaker is a
// machine property (pcspk-audiodev). Each uses its <audio> backend (the first one
// unless <audio id> names another).
import type { Audio } from '../../conf/audio.js';
import type { Sound } from '../../conf/sound.js';
import { InternalError } from '../../util/errors.js';
import type { BuildContext } from './context.js';
import { aliasOf, deviceAddressProps, devicesOf, unsupported, virtioDriverName, virtioOptionProps } from './context.js';
import type { PropObject } from './props.js';

const SIMPLE_DRIVERS: Partial<Record<Sound['model'], string>> = { es1370: 'ES1370', sb16: 'sb16', ac97: 'AC97', usb: 'usb-audio' };
const HDA_DRIVERS: Partial<Record<Sound['model'], string>> = { ich6: 'intel-hda', ich9: 'ich9-intel-hda' };

/** The -audiodev id a sound device (or the PC speaker) plays through. */
export function audiodevFor(ctx: BuildContext, s: Sound): string {
  const audios = devicesOf<Audio>(ctx, 'audio');
  const audio = s.audioId === undefined ? audios[0] : audios.find((a) => a.id === s.audioId);
  if (!audio) throw new InternalError('unable to find audio backend for sound device');
  return `audio${audio.id}`;
}

/** The PC speaker's backend, for -machine (undefined without a pcspk <sound>). */
export function pcspkAudiodev(ctx: BuildContext): string | undefined {
  const pcspk = devicesOf<Sound>(ctx, 'sound').find((s) => s.model === 'pcspk');
  return pcspk ? audiodevFor(ctx, pcspk) : undefined;
}

export function buildSounds(ctx: BuildContext): void {
  for (const s of devicesOf<Sound>(ctx, 'sound')) {
    if (s.model === 'pcspk') continue;
    const id = aliasOf(ctx, s);
    const audiodev = audiodevFor(ctx, s);
    const simple = SIMPLE_DRIVERS[s.model];
    const hda = HDA_DRIVERS[s.model];
    let props: PropObject;
    if (simple) {
      props = { driver: simple, id, audiodev, multi: s.model === 'usb' && s.multichannel === 'yes' ? true : undefined };
    } else if (s.model === 'virtio') {
      props = { driver: virtioDriverName(ctx, 'virtio-sound', undefined, s.info), ...virtioOptionProps(s.driver?.virtio), id, audiodev, streams: s.streams };
    } else if (hda) {
      props = { driver: hda, id };
    } else {
      return unsupported(`<sound model='${s.model}'>`);
    }
    ctx.argv.device({ ...props, ...deviceAddressProps(ctx, s) });
    if (!hda) continue;
    const codecs = s.codecs.length ? s.codecs : ['duplex'];
    codecs.forEach((codec, cad) => {
      ctx.argv.device({ driver: `hda-${codec}`, id: `${id}-codec${cad}`, bus: `${id}.0`, cad, audiodev });
    });
  }
}
