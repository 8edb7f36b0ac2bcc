// Cross-element checks, run after parse (and post-parse), like libvirt's
// domain_validate.c. Device-local checks live beside each device's parser.
import { ConfigUnsupportedError } from '../util/errors.js';
import type { Domain } from './domain.js';
import type { DeviceInfo } from './device-info.js';
import { isRawDevice } from './devices.js';
import { validateClock } from './clock.js';
import { validateFeatures } from './features.js';
import { validateOs } from './os.js';

/** Per-device validators, registered by device modules (kind -> fn). */
const deviceValidators = new Map<string, (d: unknown, dom: Domain) => void>();

export function registerDeviceValidator<T>(kind: string, fn: (d: T, dom: Domain) => void): void {
  deviceValidators.set(kind, fn as (d: unknown, dom: Domain) => void);
}

/** The DeviceInfo of a typed device, when it has one. */
export function deviceInfoOf(d: unknown): DeviceInfo | undefined {
  const info = (d as { info?: DeviceInfo }).info;
  return info && typeof info === 'object' ? info : undefined;
}

/** virDomainDefValidate's alias uniqueness check. */
export function validateAliases(dom: Domain): void {
  const seen = new Set<string>();
  for (const d of dom.devices) {
    const alias = deviceInfoOf(d)?.alias;
    if (!alias) continue;
    if (seen.has(alias)) throw new ConfigUnsupportedError(`non unique alias detected: ${alias}`);
    seen.add(alias);
  }
}

/** Everything libvirt checks at `virsh define` that needs no host resources. */
export function validateDomain(dom: Domain): void {
  validateFeatures(dom.features); // parse-time in libvirt
  validateClock(dom.clock); // post-parse in libvirt
  for (const d of dom.devices) {
    if (isRawDevice(d)) continue;
    deviceValidators.get(d.kind)?.(d, dom);
  }
  validateAliases(dom);
  validateOs(dom.os);
}
