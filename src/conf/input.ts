// <input type='mouse' bus='ps2'/>: type, parse, format, validation
// (virDomainInputDef*).
import { ConfigUnsupportedError, InternalError, XmlError } from '../util/errors.js';
import type { ElementReader, Extra, XmlWriter } from '../util/xml.js';
import { attrsOf, orderedChildren } from './children.js';
import { type DeviceInfo, formatDeviceInfo, parseDeviceInfo } from './device-info.js';
import type { Features } from './features.js';
import type { Os } from './os.js';
import type { OnOff } from './common.js';
import { propEnum, propOnOff, sanitizePath } from './props.js';
import { type VirtioOptions, parseVirtioOptions, virtioOptionAttrs } from './virtio-options.js';

export const INPUT_TYPES = ['mouse', 'tablet', 'keyboard', 'passthrough', 'evdev'] as const;
export type InputType = (typeof INPUT_TYPES)[number];
/** Index 0 ('default') is "not set": refused in XML, filled by post-parse. */
export const INPUT_BUSES = ['default', 'ps2', 'usb', 'xen', 'parallels', 'virtio', 'none'] as const;
export type InputBus = Exclude<(typeof INPUT_BUSES)[number], 'default'>;
export const INPUT_MODELS = ['default', 'virtio', 'virtio-transitional', 'virtio-non-transitional'] as const;
export type InputModel = Exclude<(typeof INPUT_MODELS)[number], 'default'>;
export const INPUT_GRAB = ['default', 'all'] as const;
export const INPUT_GRAB_TOGGLE = [
  'default', 'ctrl-ctrl', 'alt-alt', 'shift-shift', 'meta-meta', 'scrolllock', 'ctrl-scrolllock',
] as const;

export interface InputSource {
  /** passthrough: evdev='..'; evdev: dev='..' */
  evdev?: string;
  grab?: string;
  grabToggle?: string;
  repeat?: OnOff;
  extra?: Extra;
}

export interface Input {
  kind: 'input';
  type: InputType;
  /** absent until post-parse picks one (then not written) */
  bus?: InputBus;
  model?: InputModel;
  source?: InputSource;
  driver?: { virtio?: VirtioOptions; extra?: Extra };
  info: DeviceInfo;
  extra?: Extra;
}

export function newInput(type: InputType, bus?: InputBus): Input {
  const i: Input = { kind: 'input', type, info: {} };
  if (bus) i.bus = bus;
  return i;
}

/** virDomainInputDefParseXML */
export function parseInput(r: ElementReader, ctx: { inactive: boolean }): Input {
  const type = r.attr('type');
  const bus = r.attr('bus');
  const model = r.attr('model');
  if (type === undefined) throw new InternalError('missing input device type');
  if (!(INPUT_TYPES as readonly string[]).includes(type)) throw new ConfigUnsupportedError(`unknown input device type '${type}'`);
  const input: Input = { kind: 'input', type: type as InputType, info: {} };
  if (model !== undefined) {
    if (!(INPUT_MODELS as readonly string[]).includes(model) || model === 'default') {
      throw new ConfigUnsupportedError(`unknown input model '${model}'`);
    }
    input.model = model as InputModel;
  }
  if (bus !== undefined) {
    if (!(INPUT_BUSES as readonly string[]).includes(bus) || bus === 'default') {
      throw new ConfigUnsupportedError(`unknown input bus type '${bus}'`);
    }
    input.bus = bus as InputBus;
  }
  input.info = parseDeviceInfo(r, ctx);
  delete input.info.boot;
  delete input.info.rom;
  if (input.bus === 'usb' && input.info.address && input.info.address.type !== 'usb') {
    throw new XmlError('Invalid address for a USB device');
  }
  const src = r.child('source');
  if (src) {
    const s: InputSource = {};
    const evdev = input.type === 'passthrough' ? src.attr('evdev') : input.type === 'evdev' ? src.attr('dev') : undefined;
    if (evdev !== undefined) s.evdev = sanitizePath(evdev);
    if ((input.type === 'passthrough' || input.type === 'evdev') && s.evdev === undefined) {
      throw new XmlError('Missing evdev path for input device');
    }
    if (input.type === 'evdev') {
      const grab = propEnum(src, 'grab', INPUT_GRAB, { nonzero: true });
      const toggle = propEnum(src, 'grabToggle', INPUT_GRAB_TOGGLE, { nonzero: true });
      const repeat = propOnOff(src, 'repeat');
      if (grab) s.grab = grab;
      if (toggle) s.grabToggle = toggle;
      if (repeat) s.repeat = repeat;
    }
    const extra = src.rest();
    if (extra) s.extra = extra;
    input.source = s;
  }
  const driver = r.child('driver');
  if (driver) {
    input.driver = {};
    const virtio = parseVirtioOptions(driver);
    if (virtio) input.driver.virtio = virtio;
    const extra = driver.rest();
    if (extra) input.driver.extra = extra;
  }
  const extra = r.rest();
  if (extra) input.extra = extra;
  return input;
}

/** virDomainInputDefFormat */
export function formatInput(w: XmlWriter, i: Input): void {
  const attrs: [string, string | undefined][] = [['type', i.type], ['bus', i.bus === 'none' ? undefined : i.bus], ['model', i.model]];
  w.element('input', attrs, () => orderedChildren(w, ['driver', 'source', 'info'], {
    driver: () => {
      const a = virtioOptionAttrs(i.driver?.virtio);
      if (a.some(([, v]) => v !== undefined) || i.driver?.extra) w.empty('driver', a, i.driver?.extra);
    },
    source: () => {
      const s = i.source;
      if (!s) return;
      const a: [string, string | undefined][] = [
        [i.type === 'evdev' ? 'dev' : 'evdev', s.evdev], ['grab', s.grab], ['grabToggle', s.grabToggle], ['repeat', s.repeat],
      ];
      if (a.some(([, v]) => v !== undefined) || s.extra) w.empty('source', a, s.extra);
    },
    info: () => formatDeviceInfo(w, i.info, { allowBoot: false }),
  }, i.extra), attrsOf(i.extra));
}

/** What input validation reads of the domain. */
export interface InputDomainView {
  type: string;
  os?: Pick<Os, 'type'>;
  features?: Pick<Features, 'items'>;
}

/** virDomainInputDefValidate (runs after post-parse has chosen the bus). */
export function validateInput(i: Input, dom: InputDomainView): void {
  const bus = i.bus ?? 'default';
  const osType = dom.os?.type;
  if (osType === 'hvm') {
    if (bus === 'ps2' && i.type !== 'mouse' && i.type !== 'keyboard') {
      throw new InternalError(`ps2 bus does not support ${i.type} input device`);
    }
    if (bus === 'xen') throw new InternalError(`unsupported input bus ${bus}`);
  } else if (osType === 'xen' || osType === 'xenpvh') {
    if (bus !== 'xen') throw new InternalError(`unsupported input bus ${bus}`);
    if (i.type !== 'mouse' && i.type !== 'keyboard') throw new InternalError(`xen bus does not support ${i.type} input device`);
  } else if (dom.type === 'vz' || dom.type === 'parallels') {
    if (bus !== 'parallels') throw new InternalError(`parallels containers don't support input bus ${bus}`);
    if (i.type !== 'mouse' && i.type !== 'keyboard') throw new InternalError(`parallels bus does not support ${i.type} input device`);
  } else {
    throw new InternalError('Input devices are not supported by this virtualization driver.');
  }
  if ((i.type === 'mouse' || i.type === 'tablet' || i.type === 'keyboard') && i.source?.evdev !== undefined) {
    throw new ConfigUnsupportedError('setting source evdev path only supported for passthrough input devices');
  }
  if (i.type === 'passthrough' && bus !== 'virtio') {
    throw new ConfigUnsupportedError("only bus 'virtio' is supported for 'passthrough' input devices");
  }
  if (i.type === 'evdev' && bus !== 'none') throw new ConfigUnsupportedError("input evdev doesn't support bus element");
  if (i.model && bus !== 'virtio') throw new ConfigUnsupportedError(`only bus 'virtio' is supported for input model '${i.model}'`);
  if (bus === 'ps2' && dom.features && featureIsOff(dom, 'ps2')) {
    throw new ConfigUnsupportedError('ps2 bus inputs require the ps2 feature not to be disabled');
  }
}

function featureIsOff(dom: InputDomainView, name: string): boolean {
  return dom.features?.items.some((f) => f.name === name && f.state === 'off') ?? false;
}

