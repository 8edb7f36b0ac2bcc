// The <domain> document: top-level elements, parse and format.
// Elements we model are typed; the rest are kept verbatim at libvirt's position.
import { ConfigUnsupportedError, XmlError } from '../util/errors.js';
import { ElementReader, type Extra, type XmlElement, XmlWriter, parseXml } from '../util/xml.js';
import { assignParsePorts, consoleCompatView } from './chardev.js';
import { type Clock, type Pm, formatClock, formatPm, parseClock, parsePm } from './clock.js';
import { parseUIntAttr } from './common.js';
import { parseIntegerString, propEnum } from './props.js';
import { checkUsbControllers, orderControllers, usbDisabled } from './controller.js';
import { type Cpu, formatCpu, parseCpu } from './cpu.js';
import type { ParseContext } from './device-info.js';
import type { Device } from './devices.js';
import { formatDevices, parseDevices } from './device-table.js';
import { orderDisks } from './disk.js';
import { type Features, formatFeatures, parseFeatures } from './features.js';
import { checkSingleMemballoon } from './memballoon.js';
import { parseMemoryValue, type MemoryAmount } from './memory.js';
import { type Os, formatOs, parseOs } from './os.js';
import { orderVideos } from './video.js';
import { checkDuplicateHostdevs } from './hostdev-duplicates.js';
import { normalizeDomainNamespaces } from './namespace.js';

export const DOMAIN_TYPES = [
  'none', 'qemu', 'kqemu', 'kvm', 'xen', 'lxc', 'uml', 'openvz', 'test', 'vmware', 'hyperv', 'vbox', 'phyp',
  'parallels', 'bhyve', 'vz',
] as const;
export type DomainType = (typeof DOMAIN_TYPES)[number];

export const LIFECYCLE_ACTIONS = ['destroy', 'restart', 'rename-restart', 'preserve', 'coredump-destroy', 'coredump-restart'] as const;

export interface Vcpu {
  placement?: string;
  cpuset?: string;
  current?: number;
  count: number;
}

export interface Domain {
  type: DomainType;
  id?: number;
  /** xmlns:* declarations on <domain>, e.g. xmlns:qemu. */
  namespaces: [string, string][];
  name: string;
  uuid?: string;
  memory?: MemoryAmount;
  currentMemory?: MemoryAmount;
  vcpu?: Vcpu;
  onPoweroff?: string;
  onReboot?: string;
  onCrash?: string;
  /** <os>: dom.os.machine / dom.os.arch drive PCI address assignment */
  os: Os;
  features?: Features;
  cpu?: Cpu;
  /** always present: libvirt writes <clock offset='utc'/> when the input has none */
  clock: Clock;
  pm?: Pm;
  devices: Device[];
  /** Top-level elements we keep verbatim (metadata, sysinfo, memtune, ...), by name. */
  sections: Map<string, XmlElement[]>;
  extra?: Extra;
}

/** libvirt's top-level element order (virDomainDefFormatInternal). */
export const TOP_LEVEL_ORDER = [
  'name', 'uuid', 'genid', 'title', 'description', 'metadata', 'maxMemory', 'memory', 'currentMemory',
  'blkiotune', 'memtune', 'memoryBacking', 'vcpu', 'vcpus', 'iothreads', 'iothreadids', 'defaultiothread',
  'throttlegroups', 'cputune', 'numatune', 'resource', 'sysinfo', 'bootloader', 'bootloader_args', 'os', 'idmap', 'features',
  'cpu', 'clock', 'on_poweroff', 'on_reboot', 'on_crash', 'on_lockfailure', 'pm', 'perf', 'devices',
  'seclabel', 'keywrap', 'launchSecurity', 'qemu:commandline', 'qemu:capabilities',
  'qemu:override', 'qemu:deprecation',
] as const;

const TYPED = new Set([
  'name', 'uuid', 'memory', 'currentMemory', 'vcpu', 'os', 'features', 'cpu', 'clock', 'on_poweroff', 'on_reboot',
  'on_crash', 'pm', 'devices',
]);

export interface ParseDomainOptions {
  source?: string;
  /** Default true: parse as a persistent definition (libvirt's PARSE_INACTIVE). */
  inactive?: boolean;
}

export function parseDomainXml(input: string | Uint8Array, opts: ParseDomainOptions = {}): Domain {
  const root = parseXml(input, { source: opts.source });
  return parseDomain(root, { inactive: opts.inactive ?? true });
}

export function parseDomain(root: XmlElement, ctx: ParseContext): Domain {
  if (root.name !== 'domain') throw new XmlError(`expecting root element of 'domain', not '${root.name}'`);
  const r = new ElementReader(root);
  const type = propEnum(r, 'type', DOMAIN_TYPES, { required: true })!;
  for (const k of root.attrs.keys()) if (k.startsWith('xmlns')) r.attr(k);
  const { children: topLevel, namespaces } = normalizeDomainNamespaces(root);
  const idRaw = r.attr('id');
  const name = r.child('name')?.text();
  if (name === undefined || name === '') throw new XmlError('missing name information in domain');
  const bootloader = (r.el.children.find((c) => c.name === 'bootloader')?.text ?? '') !== '';
  const os = parseOs(r.child('os'), type, bootloader);
  const dom: Domain = { type, namespaces, name, os, clock: parseClock(r.child('clock')), devices: [], sections: new Map() };
  if (idRaw !== undefined && !ctx.inactive) dom.id = Number(idRaw);
  const uuid = r.child('uuid')?.text().trim();
  if (uuid) dom.uuid = uuid;
  const mem = r.child('memory');
  if (mem) dom.memory = parseMemoryValue(mem);
  const cur = r.child('currentMemory');
  if (cur) dom.currentMemory = parseMemoryValue(cur);
  const vcpu = r.child('vcpu');
  if (vcpu) {
    // virXPathUInt: an unsigned 32-bit decimal (no exponent, no hex, no float).
    const text = vcpu.text().trim();
    const parsed = text === '' ? 1n : parseIntegerString(text, 10);
    if (parsed === undefined || parsed < 0n || parsed > 0xffffffffn) throw new XmlError('maximum vcpus count must be an integer');
    const count = Number(parsed);
    dom.vcpu = { count };
    const placement = vcpu.attr('placement');
    const cpuset = vcpu.attr('cpuset');
    const current = parseUIntAttr(vcpu, 'current');
    if (placement !== undefined) dom.vcpu.placement = placement;
    if (cpuset !== undefined) dom.vcpu.cpuset = cpuset;
    if (current !== undefined) dom.vcpu.current = current;
  }
  const lifecycle = (tag: string): string | undefined => {
    const el = r.child(tag);
    if (!el) return undefined;
    const v = el.text().trim();
    if (!(LIFECYCLE_ACTIONS as readonly string[]).includes(v)) {
      throw new XmlError(`Invalid value '${v}' for element '${tag}'`);
    }
    return v;
  };
  dom.onPoweroff = lifecycle('on_poweroff');
  dom.onReboot = lifecycle('on_reboot');
  dom.onCrash = lifecycle('on_crash');
  const features = r.child('features');
  if (features) dom.features = parseFeatures(features);
  const cpu = r.child('cpu');
  if (cpu) dom.cpu = parseCpu(cpu);
  const pm = r.child('pm');
  if (pm) dom.pm = parsePm(pm);
  const devices = r.child('devices');
  if (devices) dom.devices = parseDevices(devices, ctx);
  arrangeDevices(dom.devices);

  root.children.forEach((original, i) => {
    if (TYPED.has(original.name)) return;
    r.markUsed(original);
    const el = topLevel[i]!;
    const list = dom.sections.get(el.name) ?? [];
    list.push(el);
    dom.sections.set(el.name, list);
  });
  const extra = r.rest();
  if (extra) dom.extra = extra;
  return dom;
}

/** What libvirt's parser does to the device lists as it reads them: list order, implicit ports, USB sanity. */
function arrangeDevices(devices: Device[]): void {
  orderDisks(devices);
  orderControllers(devices);
  checkUsbControllers(devices);
  assignParsePorts(devices);
  if (usbDisabled(devices) && devices.some((d) => d.kind === 'input' && (d as { bus?: string }).bus === 'usb')) {
    throw new ConfigUnsupportedError("Can't add USB input device. USB bus is disabled");
  }
  orderVideos(devices);
  checkSingleMemballoon(devices);
  checkDuplicateHostdevs({ devices });
}

function formatSection(w: XmlWriter, dom: Domain, name: string): void {
  for (const el of dom.sections.get(name) ?? []) {
    if (name !== 'metadata') {
      w.raw(el);
      continue;
    }
    // libvirt keeps <metadata>'s children as a libxml tree and prints them with libxml.
    w.element('metadata', [...el.attrs], () => el.children.forEach((c) => w.rawLibxml(c)));
  }
}

export function formatDomain(dom: Domain): string {
  const w = new XmlWriter();
  const attrs: [string, string | number | undefined][] = [['type', dom.type], ['id', dom.id], ...dom.namespaces];
  w.open('domain', attrs, dom.extra ? { attrs: dom.extra.attrs, children: [] } : undefined);
  const typed: Record<string, () => void> = {
    name: () => w.textElement('name', dom.name),
    uuid: () => w.textElement('uuid', dom.uuid),
    memory: () => dom.memory && w.textElement('memory', dom.memory.kib, [['dumpCore', dom.memory.dumpCore], ['unit', 'KiB']]),
    currentMemory: () => dom.currentMemory && w.textElement('currentMemory', dom.currentMemory.kib, [['unit', 'KiB']]),
    vcpu: () =>
      dom.vcpu &&
      w.textElement('vcpu', dom.vcpu.count, [
        ['placement', dom.vcpu.placement ?? 'static'],
        ['cpuset', dom.vcpu.cpuset],
        ['current', dom.vcpu.current],
      ]),
    os: () => formatOs(w, dom.os, dom.type),
    features: () => formatFeatures(w, dom.features),
    cpu: () => formatCpu(w, dom.cpu),
    clock: () => formatClock(w, dom.clock),
    on_poweroff: () => w.textElement('on_poweroff', dom.onPoweroff),
    on_reboot: () => w.textElement('on_reboot', dom.onReboot),
    on_crash: () => w.textElement('on_crash', dom.onCrash),
    pm: () => formatPm(w, dom.pm),
    devices: () => formatDevices(w, consoleCompatView(dom.devices, dom.os.type)),
  };
  for (const name of TOP_LEVEL_ORDER) {
    const f = typed[name];
    if (f) f();
    else formatSection(w, dom, name);
  }
  // Top-level elements libvirt does not know: kept, after the known ones.
  for (const name of dom.sections.keys()) {
    if (!(TOP_LEVEL_ORDER as readonly string[]).includes(name)) formatSection(w, dom, name);
  }
  if (dom.extra) for (const c of dom.extra.children) w.raw(c);
  w.close('domain');
  return w.toString();
}
