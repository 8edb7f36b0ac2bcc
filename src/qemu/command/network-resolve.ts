// <interface type='network'>: what a libvirt network and its network port turn
// into at start. libvirt asks its network driver; we read network and
// network-port XML definitions from directories (`--network-dir`, `--port-dir`).
//
// Naming, as libvirt's QEMU test harness (tests/qemufakedrivers.c) does it:
// `<source network='NET;PORT'/>` is network file NET.xml plus port file PORT.xml.
// A plain `<source network='NAME'/>` is the network whose file or <name> is NAME;
// its port is the port-dir file named by `portid` (or whose <uuid> matches), or,
// without one, a port allocated from the network definition as libvirt's network
// driver would (bridge, macvtap device or the next free VF of a hostdev pool).
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigUnsupportedError, InternalError, NoNetworkError, NoNetworkPortError, SystemError, XmlError } from '../../util/errors.js';
import { type PciAddress, formatPciAddressString } from '../../conf/address.js';
import {
  type Network, type NetworkPort, parseNetworkPortXml as parseConfNetworkPort, parseNetworkXml as parseConfNetwork,
} from '../../conf/network/index.js';

/** virDomainNetType values an <interface type='network'> can turn into. */
export type ActualNetType = 'network' | 'bridge' | 'direct' | 'hostdev';

export interface NetworkDefinition {
  /** The <name> inside the file. */
  name: string;
  /** <forward mode>: 'none' without <forward>, 'nat' for a <forward> without mode. */
  forwardMode: string;
  bridge?: string;
  /** <forward dev=> and <forward><interface dev=>, in order. */
  forwardDevs: string[];
  /** <forward mode='hostdev'>: the VF pool. */
  pciPool: PciAddress[];
  forwardManaged?: boolean;
  virtualportType?: string;
}

/** The connection a network port describes (libvirt's <networkport><plug>). */
export interface ActualNet {
  type: ActualNetType;
  /** The network's <name>. */
  network: string;
  bridge?: string;
  dev?: string;
  mode?: string;
  hostdev?: { address: PciAddress; managed: boolean };
  virtualportType?: string;
  vlan: boolean;
  bandwidth: boolean;
  isolated?: boolean;
}

export interface NetworkResolver {
  /**
   * The type a network interface will have, decided by the network's forward mode
   * alone (virDomainNetResolveActualType); used before a port exists, e.g. for aliases.
   */
  resolveType(source: string): ActualNetType;
  /**
   * The port for one interface. `taken` holds host PCI addresses already in use
   * ("dddd:bb:ss.f"), so a hostdev pool hands out a free VF; `iface` is what the
   * interface itself asks for, merged into a port the network allocates.
   */
  allocate(source: string, opts?: AllocateOptions): ActualNet;
}

export interface AllocateOptions {
  portid?: string;
  taken?: ReadonlySet<string>;
  iface?: { vlan: boolean; bandwidth: boolean; virtualportType?: string | undefined };
}

/** The parts of a network (conf/network model) a domain's interface depends on. */
export function networkDefinitionOf(net: Network): NetworkDefinition {
  const f = net.forward;
  const def: NetworkDefinition = {
    name: net.name,
    forwardMode: f?.mode ?? 'none',
    forwardDevs: [],
    pciPool: [],
  };
  if (net.bridge.name) def.bridge = net.bridge.name;
  for (const i of f?.ifs ?? []) {
    if (i.type === 'netdev') def.forwardDevs.push(i.dev);
    else def.pciPool.push(i.address);
  }
  if (f?.mode === 'hostdev') def.forwardManaged = f.managed;
  if (net.virtualport?.type) def.virtualportType = net.virtualport.type;
  return def;
}

/** Parse a libvirt <network> definition (the parts a domain's interface depends on). */
export function parseNetworkXml(text: string, source = 'network'): NetworkDefinition {
  return networkDefinitionOf(parseConfNetwork(text, { source }));
}

export interface NetworkPortDefinition {
  uuid?: string;
  plug: { type: string; bridge?: string; dev?: string; mode?: string; managed?: boolean; address?: PciAddress };
  virtualportType?: string;
  vlan: boolean;
  bandwidth: boolean;
  isolated?: boolean;
}

/** The parts of a network port (conf/network model) the command line depends on. */
export function portDefinitionOf(port: NetworkPort): NetworkPortDefinition {
  const out: NetworkPortDefinition = { uuid: port.uuid, plug: { type: port.plug.type }, vlan: port.vlan !== undefined, bandwidth: port.bandwidth !== undefined };
  const p = port.plug;
  if (p.type === 'network' || p.type === 'bridge') out.plug.bridge = p.bridge;
  if (p.type === 'direct') {
    out.plug.dev = p.dev;
    if (p.mode) out.plug.mode = p.mode;
  }
  if (p.type === 'hostdev-pci') {
    out.plug.address = p.address;
    if (p.managed) out.plug.managed = p.managed === 'yes';
  }
  if (port.virtualport?.type) out.virtualportType = port.virtualport.type;
  if (port.isolated) out.isolated = port.isolated === 'yes';
  return out;
}

/** Parse a libvirt <networkport> definition. */
export function parseNetworkPortXml(text: string, source = 'network port'): NetworkPortDefinition {
  return portDefinitionOf(parseConfNetworkPort(text, { source }));
}

/** virDomainNetResolveActualType: the interface type implied by a forward mode. */
export function actualTypeForForward(net: NetworkDefinition): ActualNetType {
  switch (net.forwardMode) {
    case 'none': case 'nat': case 'route': case 'open': return 'network';
    case 'hostdev': return 'hostdev';
    case 'bridge': return net.bridge ? 'bridge' : 'direct';
    case 'private': case 'vepa': case 'passthrough': return 'direct';
    default: throw new XmlError(`unknown forward type '${net.forwardMode}' in network '${net.name}'`);
  }
}

export function actualFromPort(net: NetworkDefinition, port: NetworkPortDefinition): ActualNet {
  const base = { network: net.name, vlan: port.vlan, bandwidth: port.bandwidth } as const;
  const out: ActualNet = { ...base, type: 'network' };
  switch (port.plug.type) {
    case 'network': out.type = 'network'; break;
    case 'bridge': out.type = 'bridge'; break;
    case 'direct': out.type = 'direct'; break;
    case 'hostdev-pci': {
      if (!port.plug.address) throw new XmlError(`network port for '${net.name}' has a hostdev-pci plug without <address>`);
      out.type = 'hostdev';
      out.hostdev = { address: port.plug.address, managed: port.plug.managed ?? false };
      break;
    }
    default:
      throw new ConfigUnsupportedError(`network port for '${net.name}' has plug type '${port.plug.type}', which cannot be connected`);
  }
  if (port.plug.bridge) out.bridge = port.plug.bridge;
  if (port.plug.dev) out.dev = port.plug.dev;
  if (port.plug.mode) out.mode = port.plug.mode;
  const vp = port.virtualportType ?? net.virtualportType;
  if (vp) out.virtualportType = vp;
  if (port.isolated !== undefined) out.isolated = port.isolated;
  return out;
}

/** A port as libvirt's network driver would allocate it: the network's connection plus the interface's own settings. */
function allocateFromNetwork(net: NetworkDefinition, opts: AllocateOptions): NetworkPortDefinition {
  const taken = opts.taken ?? new Set<string>();
  const port: NetworkPortDefinition = { plug: { type: 'none' }, vlan: opts.iface?.vlan ?? false, bandwidth: opts.iface?.bandwidth ?? false };
  const vp = opts.iface?.virtualportType ?? net.virtualportType;
  if (vp) port.virtualportType = vp;
  switch (actualTypeForForward(net)) {
    case 'network':
      port.plug = { type: 'network', bridge: net.bridge };
      break;
    case 'bridge':
      port.plug = { type: 'bridge', bridge: net.bridge };
      break;
    case 'direct': {
      const dev = net.forwardDevs[0];
      if (!dev) throw new InternalError(`network '${net.name}' uses a direct mode, but has no forward dev and no interface pool`);
      port.plug = { type: 'direct', dev, mode: net.forwardMode === 'bridge' ? 'bridge' : net.forwardMode };
      break;
    }
    case 'hostdev': {
      const free = net.pciPool.find((a) => !taken.has(formatPciAddressString(a)));
      if (!free) throw new InternalError(`network '${net.name}' requires exclusive access to interfaces, but none are available`);
      port.plug = { type: 'hostdev-pci', address: free, managed: net.forwardManaged ?? false };
      break;
    }
  }
  return port;
}

/** Networks and ports read from two directories of XML files. */
export class DirNetworkResolver implements NetworkResolver {
  /** key: file base name and <name> */
  private readonly networks = new Map<string, NetworkDefinition>();
  /** key: file base name and <uuid> */
  private readonly ports = new Map<string, NetworkPortDefinition>();

  addNetwork(fileBase: string, def: NetworkDefinition): void {
    this.networks.set(fileBase, def);
    if (!this.networks.has(def.name)) this.networks.set(def.name, def);
  }

  addPort(fileBase: string, def: NetworkPortDefinition): void {
    this.ports.set(fileBase, def);
    if (def.uuid && !this.ports.has(def.uuid)) this.ports.set(def.uuid, def);
  }

  private lookup(source: string): { net: NetworkDefinition; portName?: string } {
    const semi = source.indexOf(';');
    const netName = semi >= 0 ? source.slice(0, semi) : source;
    const net = this.networks.get(netName);
    if (!net) throw new NoNetworkError(`no network with matching name '${source}'`);
    return semi >= 0 ? { net, portName: source.slice(semi + 1) } : { net };
  }

  resolveType(source: string): ActualNetType {
    return actualTypeForForward(this.lookup(source).net);
  }

  allocate(source: string, opts: AllocateOptions = {}): ActualNet {
    const { net, portName } = this.lookup(source);
    const key = portName ?? opts.portid;
    let port: NetworkPortDefinition | undefined;
    if (key !== undefined) {
      port = this.ports.get(key);
      if (!port) throw new NoNetworkPortError(`no network port with matching uuid '${key}'`);
    } else {
      port = allocateFromNetwork(net, opts);
    }
    return actualFromPort(net, port);
  }
}

async function xmlFiles(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((f) => f.endsWith('.xml')).sort();
  } catch (e) {
    throw new SystemError(`cannot read directory '${dir}': ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

/** Read every *.xml network (networkDir) and network port (portDir) definition. */
export async function loadNetworkResolver(dirs: { networkDir?: string; portDir?: string }): Promise<DirNetworkResolver> {
  const r = new DirNetworkResolver();
  if (dirs.networkDir) {
    for (const f of await xmlFiles(dirs.networkDir)) {
      const file = path.join(dirs.networkDir, f);
      r.addNetwork(f.slice(0, -4), parseNetworkXml(await readFile(file, 'utf8'), file));
    }
  }
  if (dirs.portDir) {
    for (const f of await xmlFiles(dirs.portDir)) {
      const file = path.join(dirs.portDir, f);
      r.addPort(f.slice(0, -4), parseNetworkPortXml(await readFile(file, 'utf8'), file));
    }
  }
  return r;
}
