// <memballoon model='virtio'/>: type, parse, format (virDomainMemballoonDef*).
import { InternalError } from '../util/errors.js';
import type { ElementReader, Extra, XmlWriter } from '../util/xml.js';
import { attrsOf, orderedChildren } from './children.js';
import { type DeviceInfo, formatDeviceInfo, parseDeviceInfo } from './device-info.js';
import { type Device } from './devices.js';
import type { OnOff } from './common.js';
import { propEnum, propInt, propOnOff } from './props.js';
import { type VirtioOptions, parseVirtioOptions, virtioOptionAttrs } from './virtio-options.js';

export const MEMBALLOON_MODELS = ['virtio', 'xen', 'none', 'virtio-transitional', 'virtio-non-transitional'] as const;
export type MemballoonModel = (typeof MEMBALLOON_MODELS)[number];

export interface Memballoon {
  kind: 'memballoon';
  model: MemballoonModel;
  autodeflate?: OnOff;
  freePageReporting?: OnOff;
  /** <stats period='N'/>, seconds; 0 = off */
  period?: number;
  driver?: { virtio?: VirtioOptions; extra?: Extra };
  info: DeviceInfo;
  extra?: Extra;
}

export function newMemballoon(model: MemballoonModel): Memballoon {
  return { kind: 'memballoon', model, info: {} };
}

/** virDomainMemballoonDefParseXML */
export function parseMemballoon(r: ElementReader, ctx: { inactive: boolean }): Memballoon {
  const m: Memballoon = { kind: 'memballoon', model: propEnum(r, 'model', MEMBALLOON_MODELS, { required: true })!, info: {} };
  const autodeflate = propOnOff(r, 'autodeflate');
  if (autodeflate) m.autodeflate = autodeflate;
  const fpr = propOnOff(r, 'freePageReporting');
  if (fpr) m.freePageReporting = fpr;
  const stats = r.child('stats');
  if (stats) {
    const period = propInt(stats, 'period', { base: 0 }) ?? 0;
    if (period > 0) m.period = period;
  }
  if (m.model === 'none') {
    for (const name of ['alias', 'boot', 'rom', 'acpi', 'address', 'master']) r.child(name); // ignored by libvirt
  } else {
    m.info = parseDeviceInfo(r, ctx);
    delete m.info.boot;
    delete m.info.rom;
  }
  const driver = r.child('driver');
  if (driver) {
    m.driver = {};
    const virtio = parseVirtioOptions(driver);
    if (virtio) m.driver.virtio = virtio;
    const extra = driver.rest();
    if (extra) m.driver.extra = extra;
  }
  const extra = r.rest();
  if (extra) m.extra = extra;
  return m;
}

/** virDomainMemballoonDefFormat: stats, device info, then driver. */
export function formatMemballoon(w: XmlWriter, m: Memballoon): void {
  const attrs: [string, string | undefined][] = [['model', m.model], ['autodeflate', m.autodeflate], ['freePageReporting', m.freePageReporting]];
  w.element('memballoon', attrs, () => orderedChildren(w, ['stats', 'info', 'driver'], {
    stats: () => m.period && w.empty('stats', [['period', m.period]]),
    info: () => formatDeviceInfo(w, m.info, { allowBoot: false }),
    driver: () => {
      const a = virtioOptionAttrs(m.driver?.virtio);
      if (a.some(([, v]) => v !== undefined) || m.driver?.extra) w.empty('driver', a, m.driver?.extra);
    },
  }, m.extra), attrsOf(m.extra));
}

/** libvirt's parser allows a single balloon. */
export function checkSingleMemballoon(devices: readonly Device[]): void {
  if (devices.filter((d) => d.kind === 'memballoon').length > 1) {
    throw new InternalError('only a single memory balloon device is supported');
  }
}

