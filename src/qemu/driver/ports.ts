// Network ports around a domain's life, as libvirt's QEMU driver asks its network driver for them
// (virDomainNetAllocateActualDevice / virDomainNetReleaseActualDevice): at start, every
// <interface type='network'> gets a port of its network (in device order); a port on a hostdev
// network is a VF, which is then prepared like an <interface type='hostdev'> (vfio-pci, MAC/VLAN via
// the PF). The ports are kept in the domain's status record; stop, crash clean-up and a failed start
// release them. The command line is built from the ports through a NetworkResolver.
import { formatPciAddressString } from '../../conf/address.js';
import type { Domain } from '../../conf/domain.js';
import type { Interface } from '../../conf/interface.js';
import { type NetworkPort, parseBandwidth } from '../../conf/network/index.js';
import { ConfigUnsupportedError, InternalError, NoNetworkError } from '../../util/errors.js';
import { ElementReader } from '../../util/xml.js';
import type { WantedHostdev } from './hostdev.js';
import type { NetworkDriver } from './network-driver.js';
import { createPort, newPortFor, releasePorts } from './network-ports.js';
import type { StoredPort } from './network-store.js';
import type { DomainStore } from './store.js';
import {
  type ActualNet, type ActualNetType, type NetworkResolver, actualFromPort, actualTypeForForward, networkDefinitionOf, portDefinitionOf,
} from '../command/index.js';

/** A port a domain holds, as its status record keeps it. */
export interface DomainPort {
  network: string;
  uuid: string;
}

export interface AllocatedPorts {
  ports: DomainPort[];
  /** The VFs of hostdev ports, to prepare with the domain's own hostdevs. */
  hostdevs: WantedHostdev[];
  /** What the command line builder asks for each <interface type='network'>, in device order. */
  resolver: NetworkResolver;
}

export interface AllocatePortsOptions {
  owner: { name: string; uuid: string };
  /** Host PCI addresses other domains hold. */
  excluded: ReadonlySet<string>;
  /** Is a port another domain start allocated still held by it? */
  isHeld(port: StoredPort): Promise<boolean>;
  /** Called with the ports allocated so far, after each one (the status record). */
  persist(ports: DomainPort[]): void;
  log?: (line: string) => void;
}

/** The ports a status record lists (none when it has no valid list). */
export function recordedPorts(status: object | undefined): DomainPort[] {
  const list = (status as { ports?: unknown } | undefined)?.ports;
  if (!Array.isArray(list)) return [];
  return list.filter((p): p is DomainPort => !!p && typeof (p as DomainPort).network === 'string' && typeof (p as DomainPort).uuid === 'string');
}

function networkInterfaces(dom: Domain): Interface[] {
  return dom.devices.filter((d) => d.kind === 'interface').map((d) => d as Interface).filter((n) => n.type === 'network');
}

export function hasNetworkInterfaces(dom: Domain): boolean {
  return networkInterfaces(dom).length > 0;
}

/**
 * Whether a port another domain start allocated is still that domain's: its start or stop is under
 * way (its lock is taken), or its status record lists the port. `me` (the domain starting, whose
 * lock we hold) holds none yet: its leftovers are stale.
 */
export async function portHeld(ctx: { store: DomainStore }, me: string, port: StoredPort): Promise<boolean> {
  const owner = port.domain?.name;
  if (owner === undefined) return true;
  if (owner === me) return false;
  let lock;
  try {
    lock = await ctx.store.tryLockDomain(owner, 'port-check');
  } catch {
    return true;
  }
  if (!lock) return true;
  try {
    return recordedPorts(ctx.store.readStatus(owner)).some((p) => p.uuid === port.uuid);
  } catch {
    return true;
  } finally {
    lock.release();
  }
}

/** The VF's MAC/VLAN, by libvirt's rules for hostdev interfaces (one tag, no trunk, no virtualport). */
function vfConfigOf(port: NetworkPort): { mac: string; vlan: number } {
  if (port.virtualport?.type) {
    throw new ConfigUnsupportedError(`virtualport type ${port.virtualport.type} is currently not supported on interfaces of type hostdev`);
  }
  const v = port.vlan;
  if (v && (v.tag.length !== 1 || v.trunk)) throw new ConfigUnsupportedError('vlan trunking is not supported by SR-IOV network devices');
  return { mac: port.mac, vlan: v ? v.tag[0]!.id : 0 };
}

/** Resolves each network interface to the port allocated for it, in order. */
class PortResolver implements NetworkResolver {
  private readonly queues = new Map<string, NetworkPort[]>();
  constructor(private readonly networks: NetworkDriver, allocated: [string, NetworkPort][]) {
    for (const [name, port] of allocated) {
      const q = this.queues.get(name) ?? [];
      q.push(port);
      this.queues.set(name, q);
    }
  }
  private def(source: string) {
    const net = this.networks.current(source);
    if (!net) throw new NoNetworkError(`no network with matching name '${source}'`);
    return networkDefinitionOf(net);
  }
  resolveType(source: string): ActualNetType {
    return actualTypeForForward(this.def(source));
  }
  allocate(source: string): ActualNet {
    const port = this.queues.get(source)?.shift();
    if (!port) throw new InternalError(`no network port was allocated for an interface on network '${source}'`);
    return actualFromPort(this.def(source), portDefinitionOf(port));
  }
}

/**
 * Allocates a port for every <interface type='network'> of `dom` (setting its live <source portid>).
 * All or nothing: on failure the ports made are released and persist([]) is called.
 */
export async function allocateDomainPorts(networks: NetworkDriver, dom: Domain, opts: AllocatePortsOptions): Promise<AllocatedPorts> {
  const ports: DomainPort[] = [];
  const allocated: [string, NetworkPort][] = [];
  const hostdevs: WantedHostdev[] = [];
  try {
    for (const net of networkInterfaces(dom)) {
      const name = net.source?.network;
      if (!name) throw new InternalError('network interface without a network name');
      const real = networks.lookup(name).name;
      const port = newPortFor(opts.owner, net.mac?.address ?? '00:00:00:00:00:00', net.source?.portgroup);
      if (net.vlan) port.vlan = net.vlan;
      if (net.virtualport) port.virtualport = net.virtualport;
      const bw = net.bandwidth ? parseBandwidth(new ElementReader(net.bandwidth)) : undefined;
      if (bw) port.bandwidth = bw;
      if (net.port?.isolated) port.isolated = net.port.isolated;
      const made = await createPort(networks, real, port, {
        isHeld: opts.isHeld, excluded: opts.excluded, domain: opts.owner, ...(opts.log ? { log: opts.log } : {}),
      });
      ports.push({ network: real, uuid: made.uuid });
      opts.persist([...ports]);
      allocated.push([name, made]);
      if (made.plug.type === 'hostdev-pci') {
        hostdevs.push({ address: formatPciAddressString(made.plug.address), managed: made.plug.managed === 'yes', net: vfConfigOf(made) });
      }
      if (net.source) net.source.portid = made.uuid;
    }
  } catch (e) {
    if (ports.length) {
      await releasePorts(networks, ports);
      opts.persist([]);
    }
    throw e;
  }
  return { ports, hostdevs, resolver: new PortResolver(networks, allocated) };
}

/** The port XML of every port a domain holds (for logs and tests). */
export function domainPortXml(networks: NetworkDriver, ports: readonly DomainPort[]): string[] {
  return ports.flatMap((p) => {
    const s = networks.store.readPort(p.network, p.uuid);
    return s ? [s.xml] : [];
  });
}
