// The driver-independent post-parse of the whole definition
// (virDomainDefPostParseCommon): memory sizes, default boot device, the
// controllers implied by disks, an implicit video card for graphics, and the
// primary video.
import { randomBytes, randomUUID } from 'node:crypto';
import { type Chardev, newChardev } from '../../conf/chardev.js';
import type { Controller } from '../../conf/controller.js';
import { rejectDuplicateControllers } from '../../conf/controller.js';
import type { DeviceInfo } from '../../conf/device-info.js';
import type { Disk, DiskBus } from '../../conf/disk.js';
import type { Domain } from '../../conf/domain.js';
import type { Interface } from '../../conf/interface.js';
import { type Video, newVideo } from '../../conf/video.js';
import { ConfigUnsupportedError, XmlError } from '../../util/errors.js';
import type { QemuCaps } from '../caps/index.js';
import { hasGraphics, maybeAddController } from './devices.js';
import { videoPostParse } from './device-defaults.js';

/** Values libvirt's parser fills in when the XML leaves them out. */
export function setParseDefaults(dom: Domain, caps: QemuCaps, newUuid: () => string = randomUUID): void {
  dom.uuid ??= newUuid();
  dom.vcpu ??= { count: 1 };
  dom.onPoweroff ??= 'destroy';
  dom.onReboot ??= 'restart';
  dom.onCrash ??= 'destroy';
  dom.os.arch ??= caps.arch;
}

/**
 * libvirt gives every interface without a MAC (or with 00:00:00:00:00:00) a random one in the
 * driver's prefix (52:54:00 for QEMU) when it parses the definition, so the MAC persists.
 */
export function generateMissingMacs(dom: Domain, newMac: () => string = randomQemuMac): void {
  for (const d of dom.devices) {
    if (d.kind !== 'interface') continue;
    const net = d as Interface;
    if (net.mac?.address && net.mac.address !== '00:00:00:00:00:00') continue;
    net.mac = { ...net.mac, address: newMac() };
  }
}

export function randomQemuMac(): string {
  return ['52', '54', '00', ...[...randomBytes(3)].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

/** virDomainDefPostParseMemory (without NUMA and memory devices, which we do not model). */
export function memoryPostParse(dom: Domain): void {
  const total = dom.memory?.kib ?? 0;
  if (total === 0) throw new XmlError('Memory size must be specified via <memory> or in the <numa> configuration');
  if (!dom.currentMemory || dom.currentMemory.kib === 0 || dom.currentMemory.kib > total) {
    dom.currentMemory = { kib: total };
  }
}

function bootOrderOf(d: unknown): number | undefined {
  return (d as { info?: DeviceInfo }).info?.boot?.order;
}

/** virDomainDefBootOrderPostParse: per-device boot orders or <os><boot>, and <boot dev='hd'/> when neither. */
export function bootOrderPostParse(dom: Domain): void {
  if (dom.os.type !== 'hvm') return;
  const seen = new Set<number>();
  for (const d of dom.devices) {
    const order = bootOrderOf(d);
    if (!order) continue;
    if (seen.has(order)) throw new ConfigUnsupportedError(`boot order '${order}' used for more than one device`);
    seen.add(order);
  }
  if (dom.os.boot.length > 0 && seen.size > 0) {
    throw new ConfigUnsupportedError('per-device boot elements cannot be used together with os/boot elements');
  }
  if (dom.os.boot.length === 0 && seen.size === 0) dom.os.boot = ['hd'];
}

/** virDomainDefAddDiskControllersForType: one controller per index the disks' drive addresses use. */
function addDiskControllers(dom: Domain, type: Controller['type'], bus: DiskBus): void {
  let max = -1;
  for (const d of dom.devices) {
    if (d.kind !== 'disk') continue;
    const disk = d as Disk;
    if (disk.target.bus !== bus || disk.info.address?.type !== 'drive') continue;
    max = Math.max(max, (disk.info.address as { controller: number }).controller);
  }
  for (let i = 0; i <= max; i++) maybeAddController(dom, type, i);
}

function chardevs(dom: Domain, kind: Chardev['kind']): Chardev[] {
  return dom.devices.filter((d) => d.kind === kind) as Chardev[];
}

/**
 * virDomainDefAddConsoleCompat: on HVM guests the first <console> of type
 * serial is another view of the first <serial>. A lone such console becomes the
 * serial port (and a stub console), and an ISA serial port gets a stub console.
 * Returns the serial port it created, if any (it needs its post-parse).
 */
export function addConsoleCompat(dom: Domain): Chardev | undefined {
  const consoles = chardevs(dom, 'console');
  if (consoles.slice(1).some((c) => c.target.type === 'serial')) {
    throw new ConfigUnsupportedError('Only the first console can be a serial port');
  }
  if (dom.os.type !== 'hvm') return undefined;
  const first = consoles[0];
  const serials = chardevs(dom, 'serial');
  if (first && (first.target.type === undefined || first.target.type === 'serial')) {
    let created: Chardev | undefined;
    if (serials.length === 0) {
      // The console's definition moves to a new serial port; a stub stays behind.
      created = { kind: 'serial', source: first.source, target: { port: 0 }, info: first.info };
      if (first.extra) created.extra = first.extra;
      dom.devices.push(created);
      const stub = newChardev('console', first.source.type, first.target.port);
      stub.source = created.source; // libvirt's stub refers to the serial's source (it is formatted as a copy)
      dom.devices[dom.devices.indexOf(first)] = stub;
      stub.target.type = 'serial';
      return created;
    }
    first.target.type = 'serial';
    return undefined;
  }
  if (serials[0]?.target.type === 'isa-serial') {
    const stub = newChardev('console', serials[0].source.type, 0);
    stub.source = serials[0].source; // shares the serial's source, like libvirt's stub
    stub.target.type = 'serial';
    const at = first ? dom.devices.indexOf(first) : dom.devices.length;
    dom.devices.splice(at, 0, stub);
    // The consoles after the stub move up one place, and a console's port is its place.
    chardevs(dom, 'console').forEach((c, i) => (c.target.port = i));
  }
  return undefined;
}

/** The virtio-serial controller index a channel/console address names (0 without one). */
function virtioSerialController(c: Chardev): number {
  const a = c.info.address as { type: string; attrs?: [string, string][] } | undefined;
  if (a?.type !== 'virtio-serial') return 0;
  const v = a.attrs?.find(([k]) => k === 'controller')?.[1];
  return v === undefined ? 0 : Number(v) || 0;
}

/** virDomainDefAddImplicitDevices */
export function addImplicitDevices(dom: Domain): Chardev | undefined {
  const createdSerial = addConsoleCompat(dom);
  addDiskControllers(dom, 'scsi', 'scsi');
  addDiskControllers(dom, 'fdc', 'fdc');
  addDiskControllers(dom, 'ide', 'ide');
  addDiskControllers(dom, 'sata', 'sata');
  // A host SCSI device needs a SCSI controller too (virDomainDefMaybeAddHostdevSCSIcontroller).
  let scsiMax = -1;
  for (const d of dom.devices) {
    const h = d as { kind: string; mode?: string; subsys?: { type?: string }; info: DeviceInfo };
    if (h.kind !== 'hostdev' || h.mode !== 'subsystem' || h.subsys?.type !== 'scsi') continue;
    if (h.info.address?.type === 'drive') scsiMax = Math.max(scsiMax, (h.info.address as { controller: number }).controller);
  }
  // virtio channels and consoles hang off a virtio-serial controller.
  for (const c of [...chardevs(dom, 'channel'), ...chardevs(dom, 'console')]) {
    if (c.target.type === 'virtio') maybeAddController(dom, 'virtio-serial', virtioSerialController(c));
  }
  for (let i = 0; i <= scsiMax; i++) maybeAddController(dom, 'scsi', i);
  // Graphics without a video card get the default one.
  if (hasGraphics(dom) && !dom.devices.some((d) => d.kind === 'video')) dom.devices.push(newVideo('default'));
  return createdSerial;
}

/** virDomainDefPostParseVideo: a 'none' video keeps nothing but its alias; the first video is the primary. */
export function primaryVideoPostParse(dom: Domain, caps: QemuCaps): void {
  const first = dom.devices.find((d) => d.kind === 'video') as Video | undefined;
  if (!first) return;
  if (first.model.type === 'none') {
    const alias = first.info.alias;
    first.model = { type: 'none' };
    first.info = alias ? { alias } : {};
    delete first.driver;
    return;
  }
  first.model.primary = true;
  videoPostParse(first, dom, caps);
}

/** The common checks that run with the post-parse (before the driver's validation). */
export function commonChecks(dom: Domain): void {
  rejectDuplicateControllers(dom.devices);
}
