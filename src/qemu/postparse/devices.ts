// The devices every x86 QEMU machine has whether or not the XML says so
// (qemuDomainDefAddDefaultDevices): PS/2 mouse and keyboard, the USB
// controller, q35's SATA controller and iTCO watchdog, the PCI(e) root, a
// memory balloon, and an audio backend.
import { newAudio } from '../../conf/audio.js';
import { type Controller, addController, isController, newController } from '../../conf/controller.js';
import { type Device, deviceName } from '../../conf/devices.js';
import type { Domain } from '../../conf/domain.js';
import { getFeature } from '../../conf/features.js';
import { type Input, type InputBus, type InputType, newInput } from '../../conf/input.js';
import { newMemballoon } from '../../conf/memballoon.js';
import { type Watchdog, newWatchdog } from '../../conf/watchdog.js';
import { InternalError, XmlError } from '../../util/errors.js';
import { type QemuCaps, hasFlag } from '../caps/index.js';
import { isI440FX, isPciLessX86, isQ35, isX86 } from './machine-type.js';

function controllersOf(devices: readonly Device[], type: string): Controller[] {
  return devices.filter((d): d is Controller => isController(d) && d.type === type);
}

/** virDomainDefMaybeAddController: add <controller type index model> unless that type/index exists. */
export function maybeAddController(dom: Domain, type: Controller['type'], index: number, model?: string): Controller | undefined {
  if (controllersOf(dom.devices, type).some((c) => c.index === index)) return undefined;
  const c = newController(type, index, model);
  addController(dom.devices, c);
  return c;
}

/** virDomainDefMaybeAddInput: add an input unless one of that type and bus exists. */
function maybeAddInput(dom: Domain, type: InputType, bus: InputBus): void {
  if (dom.devices.some((d) => d.kind === 'input' && (d as Input).type === type && (d as Input).bus === bus)) return;
  dom.devices.push(newInput(type, bus));
}

/** virQEMUCapsSupportsI8042: the machine has a PS/2 controller QEMU can drive. */
export function supportsI8042(machine: string | undefined, caps: QemuCaps): boolean {
  return hasFlag(caps, 'i8042') && (isI440FX(machine) || isQ35(machine) || machine === 'isapc');
}

/** The USB controller model of a machine when the XML names none (x86 only). */
export function defaultUsbModel(machine: string | undefined, caps: QemuCaps): string | undefined {
  if (isQ35(machine)) {
    if (hasFlag(caps, 'qemu-xhci')) return 'qemu-xhci';
    if (hasFlag(caps, 'nec-usb-xhci')) return 'nec-xhci';
    return undefined;
  }
  if (isI440FX(machine) && hasFlag(caps, 'piix3-usb-uhci')) return 'piix3-uhci';
  return undefined;
}

/** qemuDomainDefAddDefaultAudioBackend: one backend, 'spice' with SPICE graphics, else 'none'. */
function addDefaultAudio(dom: Domain): void {
  if (dom.devices.some((d) => d.kind === 'audio')) return;
  // The driver defaults (vnc_allow_host_audio / nogfx_allow_host_audio off) never pick a host backend.
  const graphics = dom.devices.filter((d) => deviceName(d) === 'graphics');
  const typeOf = (d: unknown) => (d as { type?: string }).type ?? (d as { el?: { attrs: Map<string, string> } }).el?.attrs.get('type');
  // Only VNC and SPICE (or no graphics at all) get a backend; SDL, D-Bus, RDP, egl-headless do not.
  if (graphics.length && !graphics.some((g) => typeOf(g) === 'vnc' || typeOf(g) === 'spice')) return;
  const spice = graphics.some((g) => typeOf(g) === 'spice');
  dom.devices.push(newAudio(1, spice ? 'spice' : 'none'));
}

/** qemuDomainDefAddDefaultDevices for x86 machines. */
export function addDefaultDevices(dom: Domain, caps: QemuCaps): void {
  const machine = dom.os.machine;
  if (supportsI8042(machine, caps) && getFeature(dom.features, 'ps2')?.state !== 'off') {
    maybeAddInput(dom, 'mouse', 'ps2');
    maybeAddInput(dom, 'keyboard', 'ps2');
  }
  if (!isX86(dom.os.arch) || isPciLessX86(machine)) {
    addDefaultAudio(dom);
    return;
  }
  const q35 = isQ35(machine);
  const addPciRoot = isI440FX(machine);
  const addPcieRoot = q35;
  if (!addPciRoot && !addPcieRoot) {
    throw new InternalError(`Machine type '${machine}' supports PCI but no PCI controller added`);
  }

  const usbModel = defaultUsbModel(machine, caps);
  if (usbModel && !controllersOf(dom.devices, 'usb').some((c) => c.index === 0)) {
    addController(dom.devices, newController('usb', 0, usbModel));
  }
  if (q35) maybeAddController(dom, 'sata', 0);

  const pciRoot = controllersOf(dom.devices, 'pci').find((c) => c.index === 0);
  const rootModel = addPcieRoot ? 'pcie-root' : 'pci-root';
  if (pciRoot) {
    if (pciRoot.model !== rootModel) {
      throw new XmlError(
        `The PCI controller with index='0' must be model='${rootModel}' for this machine type, but model='${pciRoot.model}' was found instead`,
      );
    }
  } else {
    addController(dom.devices, newController('pci', 0, rootModel));
  }

  if (!dom.devices.some((d) => d.kind === 'memballoon')) dom.devices.push(newMemballoon('virtio'));

  if (q35) {
    const watchdogs = dom.devices.filter((d): d is Watchdog => d.kind === 'watchdog');
    if (!watchdogs.some((w) => w.model === 'itco')) {
      dom.devices.push(newWatchdog('itco', watchdogs[0]?.action ?? 'reset'));
    }
  }
  addDefaultAudio(dom);
}

/** Whether the domain has a graphics device of any kind (typed or kept raw). */
export function hasGraphics(dom: Domain): boolean {
  return dom.devices.some((d) => deviceName(d) === 'graphics');
}
