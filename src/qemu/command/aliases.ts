// Device aliases (QEMU ids) as libvirt assigns them when a domain starts
// (qemu_alias.c, qemuAssignDeviceAliases): same device order, same names
// (net0, hostdev0, ide0-0-0, virtio-disk0, usb, pci.1, serial0, video0,
// balloon0, ...). User aliases (ua-*) are kept.
import type { Chardev } from '../../conf/chardev.js';
import type { Controller } from '../../conf/controller.js';
import { isUserAlias } from '../../conf/device-info.js';
import { type Device, deviceName, isRawDevice } from '../../conf/devices.js';
import type { Disk } from '../../conf/disk.js';
import type { Domain } from '../../conf/domain.js';
import type { Interface } from '../../conf/interface.js';
import type { Memballoon } from '../../conf/memballoon.js';
import { deviceInfoOf } from '../../conf/validate.js';
import type { XmlElement } from '../../util/xml.js';
import { domainArch, domainMachine, hasBuiltinIde, isQ35, osType } from './domain.js';

/** Device -> alias; every device QEMU sees gets one. */
export type AliasMap = Map<Device, string>;

export interface AliasOptions {
  /**
   * The type an <interface type='network'> turns into (virDomainNetResolveActualType):
   * one that becomes a host device is named hostdevN, not netN.
   */
  netActualType?: (net: Interface) => string;
}

function rawChild(d: Device, name: string): XmlElement | undefined {
  return isRawDevice(d) ? d.el.children.find((c) => c.name === name) : undefined;
}

/** The alias a device already has: typed devices keep what conf kept; raw ones keep user aliases only. */
function existingAlias(d: Device): string | undefined {
  const info = deviceInfoOf(d);
  if (info) return info.alias;
  const name = rawChild(d, 'alias')?.attrs.get('name');
  return name !== undefined && isUserAlias(name) ? name : undefined;
}

/** virDiskNameToIndex: "vda" -> 0, "sdaa" -> 26, trailing partition digits ignored. */
export function diskNameToIndex(dev: string): number {
  const m = /^(?:fd|hd|vd|sd|xvd|ubd)([a-z]+)/.exec(dev);
  if (!m) return -1;
  let idx = 0;
  [...m[1]].forEach((ch, i) => {
    idx = (idx + (i < 1 ? 0 : 1)) * 26 + (ch.charCodeAt(0) - 97);
  });
  return idx;
}

/** Largest N+1 over aliases "<prefix>N" (qemuDomainDeviceAliasIndex): the next free index. */
function nextIndex(aliases: AliasMap, devices: readonly Device[], prefix: string): number {
  let next = 0;
  for (const d of devices) {
    const a = aliases.get(d);
    if (!a?.startsWith(prefix)) continue;
    const rest = a.slice(prefix.length);
    if (!/^[+-]?\d+$/.test(rest)) continue;
    const n = Number(rest);
    if (n >= next) next = n + 1;
  }
  return next;
}

function diskAlias(dom: Domain, d: Disk): string {
  const bus = d.target.bus ?? 'none';
  const addr = d.info.address;
  if (addr?.type === 'drive' && 'controller' in addr) {
    const scsiController = bus === 'scsi'
      ? dom.devices.find((c): c is Controller => c.kind === 'controller' && (c as Controller).type === 'scsi' && (c as Controller).index === addr.controller)
      : undefined;
    if (bus !== 'scsi' || scsiController?.model === 'lsilogic') return `${bus}${addr.controller}-${addr.bus}-${addr.unit}`;
    return `${bus}${addr.controller}-${addr.bus}-${addr.target}-${addr.unit}`;
  }
  return `${bus}-disk${diskNameToIndex(d.target.dev ?? '')}`;
}

function controllerAlias(dom: Domain, c: Controller): string {
  const machine = domainMachine(dom);
  const arch = domainArch(dom);
  if (c.type === 'pci') return c.model === 'pcie-root' ? `pcie.${c.index}` : `pci.${c.index}`;
  if (c.type === 'ide' && c.index === 0 && hasBuiltinIde(machine, arch)) return 'ide';
  if (c.type === 'sata' && c.index === 0 && isQ35(machine, arch)) return 'ide';
  if (c.type === 'usb' && c.index === 0) return 'usb';
  if (c.type === 'scsi' && c.model === 'ncr53c90' && c.index === 0) return 'scsi';
  return `${c.type}${c.index}`;
}

/** Element name of a device; <interface> etc. for typed ones. */
function kind(d: Device): string {
  return deviceName(d);
}

/** libvirt's device classes, in the order qemuAssignDeviceAliases walks them. */
export function assignAliases(dom: Domain, opts: AliasOptions = {}): AliasMap {
  const aliases: AliasMap = new Map();
  for (const d of dom.devices) {
    const a = existingAlias(d);
    if (a !== undefined) aliases.set(d, a);
  }
  const ofKind = (k: string) => dom.devices.filter((d) => kind(d) === k);
  const setIfMissing = (d: Device, make: () => string) => {
    if (!aliases.has(d)) aliases.set(d, make());
  };
  const nets = ofKind('interface');
  const hostdevs = ofKind('hostdev');
  const hostdevAlias = (d: Device) => setIfMissing(d, () => `hostdev${Math.max(nextIndex(aliases, hostdevs, 'hostdev'), nextIndex(aliases, nets, 'hostdev'))}`);

  for (const d of ofKind('disk')) setIfMissing(d, () => diskAlias(dom, d as Disk));
  for (const d of nets) {
    const net = d as Interface;
    const actual = net.type === 'network' && opts.netActualType ? opts.netActualType(net) : net.type;
    if (actual === 'hostdev') hostdevAlias(d);
    else setIfMissing(d, () => `net${nextIndex(aliases, nets, 'net')}`);
  }
  for (const d of ofKind('filesystem')) setIfMissing(d, () => `fs${nextIndex(aliases, ofKind('filesystem'), 'fs')}`);
  ofKind('sound').forEach((d, i) => setIfMissing(d, () => `sound${i}`));
  for (const d of hostdevs) hostdevAlias(d);
  ofKind('redirdev').forEach((d, i) => setIfMissing(d, () => `redir${i}`));
  ofKind('video').forEach((d, i) => setIfMissing(d, () => `video${i}`));
  for (const d of ofKind('controller')) setIfMissing(d, () => controllerAlias(dom, d as Controller));
  ofKind('input').forEach((d, i) => setIfMissing(d, () => `input${i}`));
  ofKind('parallel').forEach((d, i) => setIfMissing(d, () => `parallel${i}`));
  const serials = ofKind('serial');
  serials.forEach((d, i) => setIfMissing(d, () => `serial${i}`));
  ofKind('channel').forEach((d, i) => setIfMissing(d, () => `channel${i}`));
  ofKind('console').forEach((d, i) => {
    // virDomainDefAddConsoleCompat: the first serial-type console of an HVM guest is the first serial.
    const target = consoleTargetType(d);
    const first = serials[0] && aliases.get(serials[0]);
    if (i === 0 && target === 'serial' && osType(dom) === 'hvm' && first) setIfMissing(d, () => first);
    else setIfMissing(d, () => `console${i}`);
  });
  ofKind('hub').forEach((d, i) => setIfMissing(d, () => `hub${i}`));
  ofKind('shmem').forEach((d, i) => setIfMissing(d, () => `shmem${i}`));
  ofKind('smartcard').forEach((d, i) => setIfMissing(d, () => `smartcard${i}`));
  ofKind('watchdog').forEach((d, i) => setIfMissing(d, () => `watchdog${i}`));
  for (const d of ofKind('memballoon')) if (memballoonModel(d) !== 'none') setIfMissing(d, () => 'balloon0');
  for (const d of ofKind('rng')) setIfMissing(d, () => `rng${nextIndex(aliases, ofKind('rng'), 'rng')}`);
  ofKind('tpm').forEach((d, i) => setIfMissing(d, () => `tpm${i}`));
  for (const d of ofKind('vsock')) setIfMissing(d, () => 'vsock0');
  for (const d of ofKind('iommu')) setIfMissing(d, () => 'iommu0');
  for (const d of ofKind('crypto')) setIfMissing(d, () => `crypto${nextIndex(aliases, ofKind('crypto'), 'crypto')}`);
  return aliases;
}

function consoleTargetType(d: Device): string | undefined {
  return isRawDevice(d) ? rawChild(d, 'target')?.attrs.get('type') : (d as Chardev).target.type;
}

function memballoonModel(d: Device): string | undefined {
  return isRawDevice(d) ? d.el.attrs.get('model') : (d as Memballoon).model;
}

/** Write the aliases into the typed devices' <alias> (the live XML view); raw devices are left alone. */
export function applyAliases(aliases: AliasMap): void {
  for (const [d, alias] of aliases) {
    const info = deviceInfoOf(d);
    if (info) info.alias = alias;
  }
}
