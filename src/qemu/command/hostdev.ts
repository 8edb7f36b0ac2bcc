// PCI host devices (qemuBuildHostdevCommandLine / qemuBuildPCIHostdevDevProps):
// plain <hostdev>, <interface type='hostdev'> and <interface type='network'>
// on a hostdev pool all become vfio-pci. The failover primary carries
// failover_pair_id, taken from the interface's <teaming> or the hostdev's own.
import { formatPciAddressString, type PciAddress } from '../../conf/address.js';
import type { DeviceInfo } from '../../conf/device-info.js';
import type { Device } from '../../conf/devices.js';
import { type Hostdev, type HostdevSubsysPci, isPciHostdev } from '../../conf/hostdev.js';
import type { Interface } from '../../conf/interface.js';
import type { Teaming } from '../../conf/teaming.js';
import { InternalError } from '../../util/errors.js';
import type { BuildContext } from './context.js';
import { addressProps, aliasOf, bootIndexOf, devicesOf, romProps, unsupported } from './context.js';
import { actualNetType } from './net.js';
import { onlyTrue } from './props.js';

/** One entry of libvirt's def->hostdevs as far as the command line is concerned. */
export interface PciHostdevEntry {
  /** The device the alias and boot order belong to (the <interface> for network ones). */
  device: Device;
  info: DeviceInfo;
  host: PciAddress;
  driverName?: string;
  display?: string;
  ramfb?: string;
  teaming?: Teaming;
}

/**
 * def->hostdevs in libvirt's order: hostdevs of <interface type='hostdev'> (added while
 * the interfaces are parsed), then plain <hostdev>s, then those that networks handed
 * out when the domain started.
 */
export function pciHostdevs(ctx: BuildContext): PciHostdevEntry[] {
  const out: PciHostdevEntry[] = [];
  const nets = devicesOf<Interface>(ctx, 'interface');
  for (const net of nets) {
    if (net.type !== 'hostdev') continue;
    const sub = net.hostdev;
    if (sub?.type !== 'pci') return unsupported(`<interface type='hostdev'> with a ${sub?.type ?? 'missing'} source`);
    out.push(fromSubsys(net, net.info, sub, net.teaming));
  }
  for (const h of devicesOf<Hostdev>(ctx, 'hostdev')) {
    if (h.mode !== 'subsystem') return unsupported(`<hostdev mode='${h.mode}'>`);
    if (!isPciHostdev(h)) return unsupported(`<hostdev type='${h.subsys.type}'>`);
    out.push(fromSubsys(h, h.info, h.subsys, h.teaming));
  }
  for (const net of nets) {
    const actual = ctx.actualNets.get(net);
    if (!actual?.hostdev || actualNetType(ctx, net) !== 'hostdev') continue;
    const entry: PciHostdevEntry = { device: net, info: net.info, host: actual.hostdev.address };
    if (net.teaming) entry.teaming = net.teaming;
    out.push(entry);
  }
  return out;
}

function fromSubsys(device: Device, info: DeviceInfo, sub: HostdevSubsysPci, teaming: Teaming | undefined): PciHostdevEntry {
  const e: PciHostdevEntry = { device, info, host: sub.source.address };
  if (sub.driver?.name) e.driverName = sub.driver.name;
  if (sub.display) e.display = sub.display;
  if (sub.ramfb) e.ramfb = sub.ramfb;
  if (teaming) e.teaming = teaming;
  return e;
}

export function buildHostdevs(ctx: BuildContext): void {
  for (const h of pciHostdevs(ctx)) {
    if (h.info.address?.type === 'unassigned') continue;
    if (h.driverName && h.driverName !== 'vfio') throw new InternalError(`invalid PCI passthrough type '${h.driverName}'`);
    const t = h.teaming;
    ctx.argv.device({
      driver: h.ramfb === 'on' ? 'vfio-pci-nohotplug' : 'vfio-pci',
      host: formatPciAddressString(h.host),
      id: aliasOf(ctx, h.device),
      bootindex: bootIndexOf(ctx, h.device, h.info),
      failover_pair_id: t?.type === 'transient' && t.persistent ? t.persistent : undefined,
      display: h.display,
      ramfb: onlyTrue(h.ramfb === 'on'),
      ...addressProps(ctx, h.info),
      ...romProps(h.info),
    });
  }
}
