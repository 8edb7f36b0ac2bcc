// Network ports (net-port-create/list/dumpxml/delete, and the ports a domain start allocates), as
// libvirt's network driver hands them out (networkAllocatePort / networkNotifyPort): the port takes
// the network's (or its portgroup's) vlan, bandwidth, virtualport and trust settings it does not set
// itself, and on a hostdev network a free VF of the pool: one no other port holds, no other domain
// holds as a hostdev, and that is bound or bindable to vfio-pci. All of it under the network's lock,
// so two starts never get the same VF.
import { randomUUID } from 'node:crypto';
import { type PciAddress, formatPciAddressString } from '../../conf/address.js';
import {
  type Network, type NetworkPort, type PortGroup, formatNetworkPort, forwardModeOf, parseNetworkPortXml, parseNetworkXml,
} from '../../conf/network/index.js';
import { vfioUsable } from '../../host/index.js';
import { ConfigUnsupportedError, InternalError, NoNetworkPortError, OperationInvalidError } from '../../util/errors.js';
import type { NetworkDriver } from './network-driver.js';
import type { StoredPort } from './network-store.js';

export interface AllocateContext {
  /** A port some domain start allocated: is it still held? (false: stale, freed). Default: held. */
  isHeld?(port: StoredPort): boolean | Promise<boolean>;
  /** Host PCI addresses other domains hold as hostdevs: never handed out. */
  excluded?: ReadonlySet<string>;
  /** The domain the port is for (kept with it, so its stop releases it). */
  domain?: { name: string; uuid: string };
  /** Why VFs were skipped (for the domain's log). */
  log?: (line: string) => void;
}

function activeNetwork(driver: NetworkDriver, ref: string): Network {
  const s = driver.lookup(ref);
  const live = driver.store.readLive(s.name);
  if (live === undefined) throw new OperationInvalidError(`network '${s.name}' is not active`);
  return parseNetworkXml(live, { source: s.name });
}

function portGroupOf(net: Network, group: string | undefined): PortGroup | undefined {
  return group === undefined ? net.portgroups.find((p) => p.isDefault) : net.portgroups.find((p) => p.name === group);
}

/** The settings a port takes from its network and portgroup (networkAllocatePort's merge). */
function mergeNetworkSettings(net: Network, port: NetworkPort): void {
  const pg = portGroupOf(net, port.group);
  if (!port.bandwidth && pg?.bandwidth) port.bandwidth = pg.bandwidth;
  if (!port.vlan) {
    const vlan = pg?.vlan ?? net.vlan;
    if (vlan) port.vlan = vlan;
  }
  if (!port.trustGuestRxFilters) {
    const trust = pg?.trustGuestRxFilters ?? net.trustGuestRxFilters;
    if (trust) port.trustGuestRxFilters = trust;
  }
  if (!port.isolated && net.portIsolated) port.isolated = net.portIsolated;
  if (!port.virtualport) {
    const vp = pg?.virtualport ?? net.virtualport;
    if (vp) port.virtualport = vp;
  }
}

/** Ports of the network that hold their device; stale domain ports (isHeld false) are removed. */
async function heldPorts(driver: NetworkDriver, net: Network, ctx: AllocateContext): Promise<NetworkPort[]> {
  const held: NetworkPort[] = [];
  for (const stored of driver.store.listPorts(net.name)) {
    if (stored.domain && ctx.isHeld && !(await ctx.isHeld(stored))) {
      driver.store.removePort(net.name, stored.uuid);
      continue;
    }
    held.push(parseNetworkPortXml(stored.xml, { source: stored.uuid }));
  }
  return held;
}

function pickVf(net: Network, held: NetworkPort[], ctx: AllocateContext, host: NetworkDriver['host']): PciAddress | undefined {
  const inUse = new Set(held.flatMap((p) => (p.plug.type === 'hostdev-pci' ? [formatPciAddressString(p.plug.address)] : [])));
  for (const i of net.forward?.ifs ?? []) {
    if (i.type !== 'pci') continue;
    const addr = formatPciAddressString(i.address);
    if (inUse.has(addr) || ctx.excluded?.has(addr)) continue;
    const usable = vfioUsable(addr, net.forward!.managed, host);
    if (usable.ok) return i.address;
    ctx.log?.(`network '${net.name}': VF ${addr} skipped: ${usable.why}`);
  }
  return undefined;
}

function fillPlug(net: Network, port: NetworkPort, held: NetworkPort[], ctx: AllocateContext, host: NetworkDriver['host']): void {
  const mode = forwardModeOf(net);
  const vpType = port.virtualport?.type;
  switch (mode) {
    case 'none': case 'nat': case 'route': case 'open':
      if (vpType) throw new ConfigUnsupportedError(`<virtualport type='${vpType}'> not supported for network '${net.name}' which uses IP forwarding`);
      port.plug = { type: 'network', bridge: net.bridge.name ?? '' };
      return;
    case 'hostdev': {
      const address = pickVf(net, held, ctx, host);
      if (!address) throw new InternalError(`network '${net.name}' requires exclusive access to interfaces, but none are available`);
      port.plug = { type: 'hostdev-pci', address, managed: net.forward!.managed ? 'yes' : 'no' };
      if (net.forward?.driver?.name) port.plug.driver = net.forward.driver.name;
      if (vpType && vpType !== '802.1Qbg' && vpType !== '802.1Qbh') {
        throw new ConfigUnsupportedError(`<virtualport type='${vpType}'> not supported for network '${net.name}' which uses an SR-IOV Virtual Function via PCI passthrough`);
      }
      return;
    }
    case 'bridge':
      if (net.bridge.name) {
        if (vpType && vpType !== 'openvswitch') {
          throw new ConfigUnsupportedError(`<virtualport type='${vpType}'> not supported for network '${net.name}' which uses a bridge device`);
        }
        port.plug = { type: 'bridge', bridge: net.bridge.name };
        return;
      }
    // falls through: macvtap bridge mode
    case 'private': case 'vepa': case 'passthrough': {
      const devs = (net.forward?.ifs ?? []).flatMap((i) => (i.type === 'netdev' ? [i.dev] : []));
      if (devs.length === 0) throw new InternalError(`network '${net.name}' uses a direct mode, but has no forward dev and no interface pool`);
      const used = new Set(held.flatMap((p) => (p.plug.type === 'direct' ? [p.plug.dev] : [])));
      const exclusive = mode === 'passthrough' || (mode === 'private' && vpType === '802.1Qbh');
      const dev = exclusive ? devs.find((d) => !used.has(d)) : devs[0];
      if (!dev) throw new InternalError(`network '${net.name}' requires exclusive access to interfaces, but none are available`);
      port.plug = { type: 'direct', dev, mode };
    }
  }
}

/** A port with its plug given (networkNotifyPort): the device must be in the pool and, if exclusive, free. */
function checkGivenPlug(net: Network, port: NetworkPort, held: NetworkPort[]): void {
  if (port.plug.type !== 'hostdev-pci') return;
  const addr = formatPciAddressString(port.plug.address);
  if (!(net.forward?.ifs ?? []).some((i) => i.type === 'pci' && formatPciAddressString(i.address) === addr)) {
    throw new InternalError(`network '${net.name}' doesn't have PCI device ${addr} in use by network port`);
  }
  const a = port.plug.address;
  if (held.some((p) => p.plug.type === 'hostdev-pci' && formatPciAddressString(p.plug.address) === addr)) {
    throw new InternalError(
      `network '${net.name}' claims the PCI device at domain=${a.domain} bus=${a.bus} slot=${a.slot} function=${a.function} is already in use by a different port`,
    );
  }
}

/**
 * Creates a port on an active network: a port without a plug gets one allocated, one with a plug is
 * checked against the pool. Runs under the network's lock; returns the stored port.
 */
export async function createPort(driver: NetworkDriver, netRef: string, port: NetworkPort, ctx: AllocateContext = {}): Promise<NetworkPort> {
  const name = driver.lookup(netRef).name;
  const lock = await driver.store.lock(name, 'port-create');
  try {
    const net = activeNetwork(driver, name);
    if (driver.store.readPort(name, port.uuid)) throw new InternalError(`Network port with UUID ${port.uuid} already exists`);
    const held = await heldPorts(driver, net, ctx);
    mergeNetworkSettings(net, port);
    if (port.plug.type === 'none') fillPlug(net, port, held, ctx, driver.host);
    else checkGivenPlug(net, port, held);
    const stored: StoredPort = { format: 1, uuid: port.uuid, xml: formatNetworkPort(port) };
    if (ctx.domain) stored.domain = ctx.domain;
    driver.store.writePort(name, stored);
    return port;
  } finally {
    lock.release();
  }
}

/** net-port-create NETWORK FILE */
export function createPortFromXml(driver: NetworkDriver, netRef: string, xml: string | Uint8Array, source?: string): Promise<NetworkPort> {
  return createPort(driver, netRef, parseNetworkPortXml(xml, { source }));
}

/** A new port for a domain's interface (what libvirt's QEMU driver asks the network driver for at start). */
export function newPortFor(owner: { name: string; uuid: string }, mac: string, group?: string): NetworkPort {
  const port: NetworkPort = { uuid: randomUUID(), owner, mac, plug: { type: 'none' } };
  if (group) port.group = group;
  return port;
}

function findPort(driver: NetworkDriver, netRef: string, uuid: string): { name: string; stored: StoredPort } {
  const name = driver.lookup(netRef).name;
  activeNetwork(driver, name);
  const stored = driver.store.readPort(name, uuid.toLowerCase());
  if (!stored) throw new NoNetworkPortError(`Network port with UUID ${uuid} does not exist`);
  return { name, stored };
}

/** net-port-list: port UUIDs, sorted as virsh sorts them (by the UUID's bytes). */
export function listPorts(driver: NetworkDriver, netRef: string): string[] {
  const name = driver.lookup(netRef).name;
  activeNetwork(driver, name);
  return driver.store.listPorts(name).map((p) => p.uuid).sort();
}

export function getPortXml(driver: NetworkDriver, netRef: string, uuid: string): string {
  return findPort(driver, netRef, uuid).stored.xml;
}

/** net-port-delete: the port goes (its device is free again). */
export async function deletePort(driver: NetworkDriver, netRef: string, uuid: string): Promise<string> {
  const { name, stored } = findPort(driver, netRef, uuid);
  const lock = await driver.store.lock(name, 'port-delete');
  try {
    driver.store.removePort(name, stored.uuid);
    return stored.uuid;
  } finally {
    lock.release();
  }
}

/** Releases ports a domain held (stop, crash clean-up, failed start); missing networks or ports are fine. */
export async function releasePorts(driver: NetworkDriver, ports: readonly { network: string; uuid: string }[]): Promise<void> {
  for (const p of ports) {
    let lock;
    try {
      lock = await driver.store.lock(p.network, 'port-release');
    } catch {
      continue;
    }
    try {
      driver.store.removePort(p.network, p.uuid);
    } finally {
      lock.release();
    }
  }
}
