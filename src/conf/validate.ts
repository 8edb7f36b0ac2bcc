// Cross-element checks, run after parse (and post-parse), like libvirt's
// domain_validate.c. Device-local checks live beside each device's parser.
import { ConfigUnsupportedError } from '../util/errors.js';
import type { Domain } from './domain.js';
import type { DeviceInfo } from './device-info.js';
import { isRawDevice, type Device } from './devices.js';
import { validateAudioDevice, type Audio } from './audio.js';
import { validateChardev, type Chardev } from './chardev.js';
import { validateControllerDevice, type Controller } from './controller.js';
import { validateDisk, type Disk } from './disk.js';
import { validateGraphics, type Graphics } from './graphics.js';
import { validateHostdev, type Hostdev } from './hostdev.js';
import { validateInput, type Input } from './input.js';
import { validateInterface, type Interface } from './interface.js';
import { validatePanicDevice, type Panic } from './panic.js';
import { validateRngDevice, type Rng } from './rng.js';
import { ensureAudioId, type Sound } from './sound.js';
import { validateVideoDevice, type Video } from './video.js';
import { validateClock } from './clock.js';
import { validateFeatures } from './features.js';
import { validateOs } from './os.js';

/** The define-time checks of one device, by element (virDomainDeviceDefValidate's switch). */
export function validateDevice(d: Device, dom: Domain): void {
  switch (d.kind) {
    case 'audio': return validateAudioDevice(d as Audio, dom.devices);
    case 'parallel':
    case 'serial':
    case 'console':
    case 'channel': return validateChardev(d as Chardev);
    case 'controller': return validateControllerDevice(d as Controller, dom.devices);
    case 'disk': return validateDisk(d as Disk);
    case 'graphics': return validateGraphics(d as Graphics, dom.devices);
    case 'hostdev': return validateHostdev(d as Hostdev);
    case 'input': return validateInput(d as Input, dom);
    case 'interface': return validateInterface(d as Interface);
    case 'panic': return validatePanicDevice(d as Panic, dom.devices);
    case 'rng': return validateRngDevice(d as Rng);
    case 'sound': return ensureAudioId(dom.devices, (d as Sound).audioId);
    case 'video': return validateVideoDevice(d as Video, dom.devices);
    default: return; // emulator, watchdog, memballoon: nothing beyond their parsers' checks; raw: lint's job
  }
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
    if (!isRawDevice(d)) validateDevice(d, dom);
  }
  validateAliases(dom);
  validateOs(dom.os);
}
