// The library API for networks, as libvirt's network driver offers it (net-define, net-start, ...),
// on our own store (network-store.ts). We run hostdev networks: SR-IOV VF pools, listed by PCI
// address or expanded from a <pf> at start. Other forward modes are defined, listed and dumped
// exactly like libvirt, but refused at net-start (we create no bridges, dnsmasq or firewall rules).
import { formatPciAddressString } from '../../conf/address.js';
import { type Network, formatNetwork, forwardModeOf, parseNetworkXml } from '../../conf/network/index.js';
import { type SysfsOptions, findPciByNetdev, readPciDevice } from '../../host/index.js';
import { InternalError, NoNetworkError, OperationFailedError, OperationInvalidError, OperationUnsupportedError } from '../../util/errors.js';
import { type NetworkStore, validateNetworkName } from './network-store.js';
import { validateNetworkForDriver } from './network-validate.js';

export interface NetworkSummary {
  name: string;
  uuid: string;
  active: boolean;
  persistent: boolean;
  autostart: boolean;
}

export interface DefineNetworkResult {
  name: string;
  uuid: string;
  created: boolean;
}

const UUID_RE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

function canonicalUuid(raw: string): string {
  const h = raw.replace(/-/g, '').toLowerCase();
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export class NetworkDriver {
  constructor(readonly store: NetworkStore, readonly host: SysfsOptions = {}) {}

  /** The definition a network runs with now (live when active, else the persistent one). */
  current(name: string): Network | undefined {
    const xml = this.store.readLive(name) ?? this.store.readConfig(name);
    return xml === undefined ? undefined : parseNetworkXml(xml, { source: name });
  }

  private names(): string[] {
    return [...new Set([...this.store.configNames(), ...this.store.liveNames()])].sort();
  }

  private summary(name: string): NetworkSummary | undefined {
    const net = this.current(name);
    if (!net) return undefined;
    const persistent = this.store.readConfig(name) !== undefined;
    return { name, uuid: net.uuid, active: this.store.readLive(name) !== undefined, persistent, autostart: persistent && this.store.isAutostart(name) };
  }

  /** A network by name or UUID (virsh tries the UUID first when it looks like one); NoNetworkError as libvirt. */
  lookup(ref: string): NetworkSummary {
    if (UUID_RE.test(ref)) {
      const want = canonicalUuid(ref);
      for (const n of this.names()) {
        const s = this.summary(n);
        if (s?.uuid === want) return s;
      }
    }
    let storable = true;
    try {
      validateNetworkName(ref);
    } catch {
      storable = false;
    }
    const byName = storable ? this.summary(ref) : undefined;
    if (byName) return byName;
    throw new NoNetworkError(`no network with matching name '${ref}'`);
  }

  /** virsh net-list data: every network, sorted by name as virsh does (case-insensitive). */
  list(): NetworkSummary[] {
    return this.names()
      .map((n) => this.summary(n))
      .filter((s): s is NetworkSummary => !!s)
      .sort((a, b) => a.name.toLowerCase().localeCompare(b.name.toLowerCase()) || a.name.localeCompare(b.name));
  }

  /** net-define: parse, the driver's checks (bridge name and MAC filled in), uniqueness, atomic store. */
  async define(xml: string | Uint8Array, opts: { source?: string } = {}): Promise<DefineNetworkResult> {
    const net = parseNetworkXml(xml, { source: opts.source });
    validateNetworkName(net.name);
    const others = this.names().filter((n) => n !== net.name).map((n) => this.current(n)).filter((n): n is Network => !!n);
    const lock = await this.store.lock(net.name, 'define');
    try {
      const sameUuid = others.find((o) => o.uuid === net.uuid);
      if (sameUuid) throw new OperationFailedError(`network '${sameUuid.name}' is already defined with uuid ${net.uuid}`);
      const existing = this.current(net.name);
      if (existing && existing.uuid !== net.uuid) throw new OperationFailedError(`network '${net.name}' already exists with uuid ${existing.uuid}`);
      if (existing?.bridge.name && !net.bridge.name) net.bridge.name = existing.bridge.name;
      if (existing?.mac && !net.mac) net.mac = existing.mac;
      validateNetworkForDriver(net, others, this.host);
      const created = this.store.readConfig(net.name) === undefined;
      this.store.writeConfig(net.name, formatNetwork(net, { inactive: true }));
      return { name: net.name, uuid: net.uuid, created };
    } finally {
      lock.release();
    }
  }

  /** net-undefine: the definition goes; an active network goes on as a transient one. */
  async undefine(ref: string): Promise<NetworkSummary> {
    const s = this.lookup(ref);
    const lock = await this.store.lock(s.name, 'undefine');
    try {
      if (this.store.readConfig(s.name) === undefined) throw new OperationInvalidError("can't undefine transient network");
      this.store.removeConfig(s.name);
      return s;
    } finally {
      lock.release();
    }
  }

  /** net-start: for a hostdev network with a <pf>, the pool becomes that PF's VFs (libvirt's messages when it has none). */
  async start(ref: string): Promise<NetworkSummary> {
    const s = this.lookup(ref);
    const lock = await this.store.lock(s.name, 'start');
    try {
      if (this.store.readLive(s.name) !== undefined) throw new OperationInvalidError('network is already active');
      const xml = this.store.readConfig(s.name);
      if (xml === undefined) throw new NoNetworkError(`no network with matching name '${ref}'`);
      const net = parseNetworkXml(xml, { source: s.name });
      const mode = forwardModeOf(net);
      if (mode !== 'hostdev') {
        throw new OperationUnsupportedError(
          `network '${net.name}' has forward mode '${mode}': virt-failover runs only hostdev networks (SR-IOV VF pools)`,
        );
      }
      if (net.forward?.pf !== undefined && net.forward.ifs.length === 0) this.expandPf(net, net.forward.pf);
      this.store.removeAllPorts(s.name);
      this.store.writeLive(s.name, formatNetwork(net));
      return { ...s, active: true };
    } finally {
      lock.release();
    }
  }

  /** networkCreateInterfacePool: every VF of the PF, in virtfn order. */
  private expandPf(net: Network, pf: string): void {
    const pfAddr = findPciByNetdev(pf, this.host);
    let vfs: string[] = [];
    if (pfAddr) {
      try {
        vfs = readPciDevice(pfAddr, this.host).virtfns.map((v) => v.address);
      } catch {
        vfs = [];
      }
    }
    if (!pfAddr) throw new InternalError(`Could not get Virtual functions on ${pf}`);
    if (vfs.length === 0) throw new InternalError(`No usable Vf's present on SRIOV PF ${pf}`);
    for (const a of vfs) {
      const [dom, bus, sf] = a.split(':');
      const [slot, fn] = sf!.split('.');
      net.forward!.ifs.push({ type: 'pci', address: { type: 'pci', domain: parseInt(dom!, 16), bus: parseInt(bus!, 16), slot: parseInt(slot!, 16), function: parseInt(fn!, 16) } });
    }
  }

  /** net-destroy: the network stops and its ports go; a transient network disappears. */
  async destroy(ref: string): Promise<NetworkSummary> {
    const s = this.lookup(ref);
    const lock = await this.store.lock(s.name, 'destroy');
    try {
      if (this.store.readLive(s.name) === undefined) throw new OperationInvalidError('network is not active');
      this.store.removeAllPorts(s.name);
      this.store.removeLive(s.name);
      return { ...s, active: false };
    } finally {
      lock.release();
    }
  }

  /** net-dumpxml [--inactive]: the live XML (with connections='N') while active, else the definition. */
  getXml(ref: string, opts: { inactive?: boolean } = {}): string {
    const s = this.lookup(ref);
    const config = this.store.readConfig(s.name);
    const live = this.store.readLive(s.name);
    const text = opts.inactive && config !== undefined ? config : live ?? config;
    if (text === undefined) throw new NoNetworkError(`no network with matching name '${ref}'`);
    const fromLive = text === live && !opts.inactive;
    const connections = fromLive ? this.store.listPorts(s.name).length : 0;
    return formatNetwork(parseNetworkXml(text, { source: s.name }), { inactive: !!opts.inactive, connections });
  }

  /** net-autostart [--disable] */
  async setAutostart(ref: string, on: boolean): Promise<NetworkSummary> {
    const s = this.lookup(ref);
    if (!s.persistent) throw new OperationInvalidError('cannot set autostart for transient network');
    this.store.setAutostart(s.name, on);
    return { ...s, autostart: on };
  }

  /** The host PCI addresses of an active network's pool, in order. */
  pool(name: string): string[] {
    const live = this.store.readLive(name);
    if (live === undefined) return [];
    return (parseNetworkXml(live, { source: name }).forward?.ifs ?? [])
      .flatMap((i) => (i.type === 'pci' ? [formatPciAddressString(i.address)] : []));
  }
}
