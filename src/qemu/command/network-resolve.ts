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
import { ConfigUnsupportedError, NoNetworkError, NoNetworkPortError, OperationFailedError, SystemError, XmlError } from '../../util/errors.js';
import { parseXml, type XmlElement } from '../../util/xml.js';
import { type PciAddress, formatPciAddressString } from '../../conf/address.js';

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

function child(el: XmlElement, name: string): XmlElement | undefined {
  return el.children.find((c) => c.name === name);
}

function childrenNamed(el: XmlElement, name: string): XmlElement[] {
  return el.children.filter((c) => c.name === name);
}

function hexAttr(el: XmlElement, name: string): number {
  const raw = el.attrs.get(name) ?? '0';
  const v = raw.startsWith('0x') || raw.startsWith('0X') ? parseInt(raw.slice(2), 16) : parseInt(raw, 10);
  if (!Number.isInteger(v) || v < 0) throw new XmlError(`Invalid PCI address ${name}='${raw}'`);
  return v;
}

function pciAddressOf(el: XmlElement): PciAddress {
  return { type: 'pci', domain: hexAttr(el, 'domain'), bus: hexAttr(el, 'bus'), slot: hexAttr(el, 'slot'), function: hexAttr(el, 'function') };
}

/** Parse a libvirt <network> definition (the parts a domain's interface depends on). */
export function parseNetworkXml(text: string, source = 'network'): NetworkDefinition {
  const root = parseXml(text, { source });
  if (root.name !== 'network') throw new XmlError(`${source}: expecting root element of 'network', not '${root.name}'`);
  const name = child(root, 'name')?.text.trim();
  if (!name) throw new XmlError(`${source}: missing network name`);
  const fwd = child(root, 'forward');
  const def: NetworkDefinition = {
    name,
    forwardMode: fwd ? fwd.attrs.get('mode') ?? 'nat' : 'none',
    forwardDevs: [],
    pciPool: [],
  };
  const bridge = child(root, 'bridge')?.attrs.get('name');
  if (bridge) def.bridge = bridge;
  if (fwd) {
    const dev = fwd.attrs.get('dev');
    if (dev) def.forwardDevs.push(dev);
    for (const i of childrenNamed(fwd, 'interface')) {
      const d = i.attrs.get('dev');
      if (d && !def.forwardDevs.includes(d)) def.forwardDevs.push(d);
    }
    for (const a of childrenNamed(fwd, 'address')) if ((a.attrs.get('type') ?? 'pci') === 'pci') def.pciPool.push(pciAddressOf(a));
    const managed = fwd.attrs.get('managed');
    if (managed !== undefined) def.forwardManaged = managed === 'yes';
  }
  const vp = child(root, 'virtualport')?.attrs.get('type');
  if (vp) def.virtualportType = vp;
  return def;
}

export interface NetworkPortDefinition {
  uuid?: string;
  plug: { type: string; bridge?: string; dev?: string; mode?: string; managed?: boolean; address?: PciAddress };
  virtualportType?: string;
  vlan: boolean;
  bandwidth: boolean;
  isolated?: boolean;
}

/** Parse a libvirt <networkport> definition. */
export function parseNetworkPortXml(text: string, source = 'network port'): NetworkPortDefinition {
  const root = parseXml(text, { source });
  if (root.name !== 'networkport') throw new XmlError(`${source}: expecting root element of 'networkport', not '${root.name}'`);
  const plugEl = child(root, 'plug');
  const port: NetworkPortDefinition = {
    plug: { type: plugEl?.attrs.get('type') ?? 'none' },
    vlan: child(root, 'vlan') !== undefined,
    bandwidth: child(root, 'bandwidth') !== undefined,
  };
  const uuid = child(root, 'uuid')?.text.trim();
  if (uuid) port.uuid = uuid;
  if (plugEl) {
    for (const k of ['bridge', 'dev', 'mode'] as const) {
      const v = plugEl.attrs.get(k);
      if (v !== undefined) port.plug[k] = v;
    }
    const managed = plugEl.attrs.get('managed');
    if (managed !== undefined) port.plug.managed = managed === 'yes';
    const addr = child(plugEl, 'address');
    if (addr) port.plug.address = pciAddressOf(addr);
  }
  const vp = child(root, 'virtualport')?.attrs.get('type');
  if (vp) port.virtualportType = vp;
  const iso = child(root, 'port')?.attrs.get('isolated');
  if (iso !== undefined) port.isolated = iso === 'yes';
  return port;
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

function actualFromPort(net: NetworkDefinition, port: NetworkPortDefinition): ActualNet {
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
      if (!dev) throw new OperationFailedError(`network '${net.name}' has no forward device to connect to`);
      port.plug = { type: 'direct', dev, mode: net.forwardMode === 'bridge' ? 'bridge' : net.forwardMode };
      break;
    }
    case 'hostdev': {
      const free = net.pciPool.find((a) => !taken.has(formatPciAddressString(a)));
      if (!free) throw new OperationFailedError(`network '${net.name}' requires exclusive access to interfaces, but none are available`);
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
