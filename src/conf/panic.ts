// <panic model='isa'/>: type, parse, format (virDomainPanicDef*).
import { ConfigUnsupportedError, XmlError } from '../util/errors.js';
import type { ElementReader, Extra, XmlWriter } from '../util/xml.js';
import { attrsOf } from './children.js';
import { type DeviceInfo, formatDeviceInfo, parseDeviceInfo } from './device-info.js';
import { type Device } from './devices.js';

/** Index 0 ('default') means "not set" and is never written. */
export const PANIC_MODELS = ['default', 'isa', 'pseries', 'hyperv', 's390', 'pvpanic'] as const;
export type PanicModel = Exclude<(typeof PANIC_MODELS)[number], 'default'>;

export interface Panic {
  kind: 'panic';
  model?: PanicModel;
  info: DeviceInfo;
  extra?: Extra;
}

/** virDomainPanicDefParseXML */
export function parsePanic(r: ElementReader, ctx: { inactive: boolean }): Panic {
  const p: Panic = { kind: 'panic', info: parseDeviceInfo(r, ctx) };
  delete p.info.boot;
  delete p.info.rom;
  const model = r.attr('model');
  if (model !== undefined) {
    if (!(PANIC_MODELS as readonly string[]).includes(model)) throw new ConfigUnsupportedError(`unknown panic model '${model}'`);
    if (model !== 'default') p.model = model as PanicModel;
  }
  const extra = r.rest();
  if (extra) p.extra = extra;
  return p;
}

/** virDomainPanicDefFormat */
export function formatPanic(w: XmlWriter, p: Panic): void {
  w.element('panic', [['model', p.model]], () => {
    formatDeviceInfo(w, p.info, { allowBoot: false });
    w.extraChildren(p.extra);
  }, attrsOf(p.extra));
}

/** virDomainDefRejectDuplicatePanics */
export function rejectDuplicatePanics(devices: readonly Device[]): void {
  const seen = new Set<string>();
  for (const d of devices) {
    if (d.kind !== 'panic') continue;
    const model = (d as Panic).model ?? 'default';
    if (seen.has(model)) throw new XmlError(`Multiple panic devices with model '${model}'`);
    seen.add(model);
  }
}

/** The checks run for each <panic> at define (listed in validate.ts). */
export function validatePanicDevice(p: Panic, devices: readonly Device[]): void {
  if (devices.find((d) => d.kind === 'panic') === p) rejectDuplicatePanics(devices);
}
