// <watchdog model='i6300esb' action='reset'/>: type, parse, format (virDomainWatchdogDef*).
import type { ElementReader, Extra, XmlWriter } from '../util/xml.js';
import { attrsOf } from './children.js';
import { type DeviceInfo, formatDeviceInfo, parseDeviceInfo } from './device-info.js';
import { propEnum } from './props.js';

export const WATCHDOG_MODELS = ['i6300esb', 'ib700', 'diag288', 'itco'] as const;
export type WatchdogModel = (typeof WATCHDOG_MODELS)[number];
export const WATCHDOG_ACTIONS = ['reset', 'shutdown', 'poweroff', 'pause', 'dump', 'none', 'inject-nmi'] as const;
export type WatchdogAction = (typeof WATCHDOG_ACTIONS)[number];

export interface Watchdog {
  kind: 'watchdog';
  model: WatchdogModel;
  /** libvirt's default is 'reset' */
  action: WatchdogAction;
  info: DeviceInfo;
  extra?: Extra;
}

export function newWatchdog(model: WatchdogModel, action: WatchdogAction = 'reset'): Watchdog {
  return { kind: 'watchdog', model, action, info: {} };
}

/** virDomainWatchdogDefParseXML */
export function parseWatchdog(r: ElementReader, ctx: { inactive: boolean }): Watchdog {
  const wd: Watchdog = {
    kind: 'watchdog',
    model: propEnum(r, 'model', WATCHDOG_MODELS, { required: true })!,
    action: propEnum(r, 'action', WATCHDOG_ACTIONS) ?? 'reset',
    info: parseDeviceInfo(r, ctx),
  };
  delete wd.info.boot;
  delete wd.info.rom;
  const extra = r.rest();
  if (extra) wd.extra = extra;
  return wd;
}

/** virDomainWatchdogDefFormat */
export function formatWatchdog(w: XmlWriter, wd: Watchdog): void {
  w.element('watchdog', [['model', wd.model], ['action', wd.action]], () => {
    formatDeviceInfo(w, wd.info, { allowBoot: false });
    w.extraChildren(wd.extra);
  }, attrsOf(wd.extra));
}

