// <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>:
// type, parse, format, validation (virDomainRNGDef*).
import { ConfigUnsupportedError, XmlError } from '../util/errors.js';
import type { ElementReader, Extra, XmlWriter } from '../util/xml.js';
import { type ChrSource, type ChrType, CHR_TYPES, formatChrSource, parseChrSource, validateChrSource } from './chardev.js';
import { attrsOf, orderedChildren } from './children.js';
import { type DeviceInfo, formatDeviceInfo, parseDeviceInfo } from './device-info.js';
import { propEnum } from './props.js';
import { type VirtioOptions, parseVirtioOptions, virtioOptionAttrs } from './virtio-options.js';

export const RNG_MODELS = ['virtio', 'virtio-transitional', 'virtio-non-transitional'] as const;
export type RngModel = (typeof RNG_MODELS)[number];
export const RNG_BACKENDS = ['random', 'egd', 'builtin'] as const;
export type RngBackendModel = (typeof RNG_BACKENDS)[number];

export interface Rng {
  kind: 'rng';
  model: RngModel;
  /** <rate bytes period> (0 = not set) */
  rate?: { bytes: number; period?: number };
  backend: {
    model: RngBackendModel;
    /** random: the host file */
    file?: string;
    /** egd: a character device source */
    source?: ChrSource;
    extra?: Extra;
  };
  driver?: { virtio?: VirtioOptions; extra?: Extra };
  info: DeviceInfo;
  extra?: Extra;
}

/** string(./rate/@x) read with virXPathUInt: absent/empty = 0, garbage = error. */
function rateAttr(r: ElementReader | undefined, name: string, what: string): number {
  const raw = r?.attr(name);
  if (raw === undefined || raw === '') return 0;
  if (!/^[ \t\n\r\f\v]*\+?[0-9]+$/.test(raw) || Number(raw) > 0xffffffff) throw new XmlError(`invalid RNG rate ${what} value`);
  return Number(raw.trim());
}

/** virDomainRNGDefParseXML */
export function parseRng(r: ElementReader, ctx: { inactive: boolean }): Rng {
  const model = propEnum(r, 'model', RNG_MODELS, { required: true })!;
  const rate = r.child('rate');
  const bytes = rateAttr(rate, 'bytes', 'bytes');
  const period = bytes > 0 ? rateAttr(rate, 'period', 'period') : 0;
  const backends = r.children('backend');
  if (backends.length !== 1) throw new XmlError('only one RNG backend is supported');
  const b = backends[0];
  const rng: Rng = { kind: 'rng', model, backend: { model: propEnum(b, 'model', RNG_BACKENDS, { required: true })! }, info: {} };
  if (bytes > 0) rng.rate = period > 0 ? { bytes, period } : { bytes };
  if (rng.backend.model === 'random') {
    if (b.text() !== '') rng.backend.file = b.text();
  } else if (rng.backend.model === 'egd') {
    const type = b.attr('type');
    if (type === undefined) throw new XmlError('missing EGD backend type');
    if (!(CHR_TYPES as readonly string[]).includes(type)) throw new ConfigUnsupportedError(`unknown backend type '${type}' for egd`);
    rng.backend.source = parseChrSource(b, type as ChrType, ctx);
  }
  const bextra = b.rest();
  if (bextra) rng.backend.extra = bextra;
  rng.info = parseDeviceInfo(r, ctx);
  delete rng.info.boot;
  delete rng.info.rom;
  const driver = r.child('driver');
  if (driver) {
    rng.driver = {};
    const virtio = parseVirtioOptions(driver);
    if (virtio) rng.driver.virtio = virtio;
    const extra = driver.rest();
    if (extra) rng.driver.extra = extra;
  }
  const extra = r.rest();
  if (extra) rng.extra = extra;
  return rng;
}

function formatBackend(w: XmlWriter, rng: Rng): void {
  const b = rng.backend;
  if (b.model === 'random' && b.file !== undefined && !b.extra?.children.length) {
    w.textElement('backend', b.file, [['model', b.model]], b.extra);
    return;
  }
  const attrs: [string, string | undefined][] = [['model', b.model], ['type', b.model === 'egd' ? b.source?.type : undefined]];
  w.element('backend', attrs, () => {
    if (b.model === 'egd' && b.source) formatChrSource(w, b.source);
    w.extraChildren(b.extra);
  }, attrsOf(b.extra));
}

/** virDomainRNGDefFormat */
export function formatRng(w: XmlWriter, rng: Rng): void {
  w.open('rng', [['model', rng.model]], attrsOf(rng.extra));
  orderedChildren(w, ['rate', 'backend', 'driver', 'info'], {
    rate: () => rng.rate && w.empty('rate', [['bytes', rng.rate.bytes], ['period', rng.rate.period || undefined]]),
    backend: () => formatBackend(w, rng),
    driver: () => {
      const a = virtioOptionAttrs(rng.driver?.virtio);
      if (a.some(([, v]) => v !== undefined) || rng.driver?.extra) w.empty('driver', a, rng.driver?.extra);
    },
    info: () => formatDeviceInfo(w, rng.info, { allowBoot: false }),
  }, rng.extra);
  w.close('rng');
}

/** The checks run for each <rng> at define (listed in validate.ts). */
export function validateRngDevice(rng: Rng): void {
  if (rng.backend.model === 'egd' && rng.backend.source) validateChrSource(rng.backend.source);
}
