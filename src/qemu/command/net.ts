// <interface>: the checks libvirt makes once the actual connection is known
// (qemuDomainValidateActualNetDef), then -netdev (qemuBuildHostNetProps) and the
// NIC -device (qemuBuildNicDevProps), one interface after the other.
import { formatPciAddressString } from '../../conf/address.js';
import { type Hostdev, isPciHostdev } from '../../conf/hostdev.js';
import type { Interface } from '../../conf/interface.js';
import { isVirtioModel } from '../../conf/interface-driver.js';
import { ConfigUnsupportedError, InternalError, OperationUnsupportedError } from '../../util/errors.js';
import type { BuildContext } from './context.js';
import { aliasOf, deviceAddressProps, bootIndexOf, devicesOf, romProps, unsupported, virtioDriverName, virtioOptionProps } from './context.js';
import { type PropObject, positive, tristate } from './props.js';
import type { TapKind } from './profile.js';
import type { NetworkResolver } from './network-resolve.js';

/** virDomainNetGetActualType */
export function actualNetType(ctx: BuildContext, net: Interface): string {
  return ctx.actualNets.get(net)?.type ?? net.type;
}

/** Host PCI addresses of the domain's host devices: a network pool must not hand them out again. */
function takenPciAddresses(ctx: BuildContext): Set<string> {
  const taken = new Set<string>();
  for (const net of devicesOf<Interface>(ctx, 'interface')) {
    if (net.hostdev?.type === 'pci') taken.add(formatPciAddressString(net.hostdev.source.address));
  }
  for (const h of devicesOf<Hostdev>(ctx, 'hostdev')) {
    if (isPciHostdev(h)) taken.add(formatPciAddressString(h.subsys.source.address));
  }
  return taken;
}

/** Ask the network "driver" for a port for every <interface type='network'>. */
export function resolveNetworks(ctx: BuildContext, resolver: NetworkResolver | undefined): void {
  const taken = takenPciAddresses(ctx);
  for (const net of devicesOf<Interface>(ctx, 'interface')) {
    if (net.type !== 'network') continue;
    const name = net.source?.network;
    if (!name) throw new InternalError('network interface without a network name');
    if (!resolver) {
      throw new OperationUnsupportedError(`<interface type='network'> needs the definition of network '${name}' (network directories)`);
    }
    const iface = { vlan: net.vlan !== undefined, bandwidth: net.bandwidth !== undefined, virtualportType: net.virtualport?.type };
    const actual = resolver.allocate(name, net.source?.portid ? { portid: net.source.portid, taken, iface } : { taken, iface });
    if (actual.hostdev) taken.add(formatPciAddressString(actual.hostdev.address));
    ctx.actualNets.set(net, actual);
  }
}

/** virDomainActualNetDefValidate + qemuDomainValidateActualNetDef, with libvirt's texts. */
export function validateActualNet(ctx: BuildContext, net: Interface): void {
  const mac = net.mac?.address ?? '00:00:00:00:00:00';
  const type = actualNetType(ctx, net);
  const actual = ctx.actualNets.get(net);
  const vlan = actual ? actual.vlan : net.vlan !== undefined;
  const vport = actual ? actual.virtualportType : net.virtualport?.type;
  const bandwidth = actual ? actual.bandwidth : net.bandwidth !== undefined;
  const isolated = actual ? actual.isolated === true : net.port?.isolated === 'yes';
  const fail = (detail: string): never => {
    throw new ConfigUnsupportedError(`interface ${mac} - ${detail}`);
  };
  const directMode = actual ? actual.mode : net.source?.mode;
  if (vlan && !(type === 'hostdev' || type === 'direct' && directMode === 'passthrough' || type === 'bridge' && vport === 'openvswitch')) {
    fail('vlan tag not supported for this connection type');
  }
  if (bandwidth && type === 'hostdev') fail('bandwidth settings are not supported for hostdev interfaces');
  if (isolated) {
    if (type !== 'network' && type !== 'bridge') fail(`<port isolated='yes'/> is not supported for network interfaces with type='${type}'`);
    if (vport) fail(`<port isolated='yes'/> is not supported for network interfaces with virtualport type='${vport}'`);
  }
  const tapTypes = ['network', 'bridge', 'ethernet'];
  if ((net.driver?.queues ?? 0) > 0 && !['network', 'bridge', 'direct', 'ethernet', 'vhostuser', 'vdpa'].includes(type)) {
    fail(`multiqueue is not supported for network interfaces of type ${type}`);
  }
  if (net.filterref) {
    if (!tapTypes.includes(type)) fail(`filterref is not supported for network interfaces of type ${type}`);
    if (vport) fail(`filterref is not supported for network interfaces with virtualport type ${vport}`);
  }
  if (net.backend?.tap && !tapTypes.includes(type)) fail(`custom tap device path is not supported for network interfaces of type ${type}`);
  if (net.teaming?.type === 'transient' && type !== 'hostdev') {
    fail(`teaming transient device must be type='hostdev', not '${type}'`);
  }
}

const TAP_KIND: Record<string, TapKind | undefined> = { network: 'bridge', bridge: 'bridge', ethernet: 'ethernet', direct: 'direct' };

function fdProps(ctx: BuildContext, net: Interface, type: string): PropObject {
  const kind = TAP_KIND[type]!;
  const queues = Math.max(1, net.driver?.queues ?? 0);
  const taps = ctx.profile.tapFds(kind, type, queues);
  const vhost = isVirtioModel(net.model?.type) ? ctx.profile.vhostFds(queues) : [];
  const props: PropObject = { type: 'tap' };
  props[taps.length > 1 ? 'fds' : 'fd'] = taps.join(':');
  if (vhost.length) {
    props.vhost = true;
    props[vhost.length > 1 ? 'vhostfds' : 'vhostfd'] = vhost.join(':');
  }
  props.sndbuf = net.tune?.sndbuf;
  return props;
}

function userProps(net: Interface): PropObject {
  const props: PropObject = { type: 'user' };
  for (const ip of net.ip?.ip ?? []) {
    if (ip.family === 'ipv4') props.net = ip.prefix ? `${ip.address}/${ip.prefix}` : ip.address;
    else Object.assign(props, { 'ipv6-prefix': ip.address, 'ipv6-prefixlen': positive(ip.prefix) });
  }
  return props;
}

function passtProps(ctx: BuildContext, alias: string): PropObject {
  const props: PropObject = {
    type: 'stream',
    addr: { type: 'unix', path: ctx.profile.passtSocket(alias) },
    server: false,
  };
  if (ctx.caps.flags.has('netdev-stream-reconnect-miliseconds')) props['reconnect-ms'] = 5000;
  else if (ctx.caps.flags.has('netdev.stream.reconnect')) props.reconnect = 5;
  return props;
}

/** qemuBuildHostNetProps */
function hostNetProps(ctx: BuildContext, net: Interface, type: string, alias: string): PropObject {
  if (net.script && type !== 'ethernet') throw new ConfigUnsupportedError(`scripts are not supported on interfaces of type ${type}`);
  const socketAddr = () => `${net.source?.address ?? ''}:${net.source?.port ?? 0}`;
  let props: PropObject;
  switch (type) {
    case 'network': case 'bridge': case 'direct': case 'ethernet':
      props = fdProps(ctx, net, type);
      break;
    case 'client': props = { type: 'socket', connect: socketAddr() }; break;
    case 'server': props = { type: 'socket', listen: socketAddr() }; break;
    case 'mcast': props = { type: 'socket', mcast: socketAddr() }; break;
    case 'udp': {
      const local = net.source?.local;
      props = { type: 'socket', udp: socketAddr(), localaddr: `${local?.address ?? ''}:${local?.port ?? 0}` };
      break;
    }
    case 'user':
      props = net.backend?.type === 'passt' ? passtProps(ctx, alias) : userProps(net);
      break;
    case 'internal':
      props = { type: 'user' };
      break;
    case 'vdpa': {
      const set = ctx.fdset++;
      ctx.argv.add('-add-fd', `set=${set},fd=${ctx.profile.vdpaFd(type)},opaque=${alias}-vdpa`);
      props = { type: 'vhost-vdpa', vhostdev: `/dev/fdset/${set}`, queues: (net.driver?.queues ?? 0) > 1 ? net.driver?.queues : undefined };
      break;
    }
    case 'vhostuser':
      return unsupported("<interface type='vhostuser'>");
    default:
      throw new ConfigUnsupportedError(`network device type '${type}' is not supported by this hypervisor`);
  }
  props.id = `host${alias}`;
  return props;
}

/** qemuBuildNicDevProps */
function nicProps(ctx: BuildContext, net: Interface, alias: string): PropObject {
  const model = net.model?.type;
  if (!model) throw new InternalError(`interface ${net.mac?.address ?? ''} has no model`);
  let props: PropObject;
  if (isVirtioModel(model)) {
    const d = net.driver;
    const queues = d?.queues ?? 0;
    props = {
      driver: virtioDriverName(ctx, 'virtio-net', model, net.info),
      ...virtioOptionProps(d),
      tx: d?.txmode === 'iothread' ? 'bh' : d?.txmode === 'timer' ? 'timer' : undefined,
      ioeventfd: tristate(d?.ioeventfd),
      event_idx: tristate(d?.event_idx),
      csum: tristate(d?.host?.csum),
      gso: tristate(d?.host?.gso),
      host_tso4: tristate(d?.host?.tso4),
      host_tso6: tristate(d?.host?.tso6),
      host_ecn: tristate(d?.host?.ecn),
      host_ufo: tristate(d?.host?.ufo),
      mrg_rxbuf: tristate(d?.host?.mrg_rxbuf),
      guest_csum: tristate(d?.guest?.csum),
      guest_tso4: tristate(d?.guest?.tso4),
      guest_tso6: tristate(d?.guest?.tso6),
      guest_ecn: tristate(d?.guest?.ecn),
      guest_ufo: tristate(d?.guest?.ufo),
      mq: queues > 1 ? true : undefined,
      vectors: queues > 1 ? 2 * queues + 2 : undefined,
      rx_queue_size: positive(d?.rx_queue_size),
      tx_queue_size: positive(d?.tx_queue_size),
      rss: tristate(d?.rss),
      hash: tristate(d?.rss_hash_report),
      host_mtu: positive(net.mtu?.size),
      failover: net.teaming?.type === 'persistent' ? true : undefined,
    };
  } else {
    props = { driver: model };
  }
  Object.assign(props, {
    netdev: `host${alias}`,
    id: alias,
    mac: net.mac?.address,
    bootindex: bootIndexOf(ctx, net, net.info),
  });
  return { ...props, ...deviceAddressProps(ctx, net), ...romProps(net.info) };
}

/** qemuBuildNetCommandLine: every interface, in order; host devices come later with the other hostdevs. */
export function buildInterfaces(ctx: BuildContext): void {
  for (const net of devicesOf<Interface>(ctx, 'interface')) {
    validateActualNet(ctx, net);
    const type = actualNetType(ctx, net);
    if (type === 'hostdev') continue;
    if (!net.mac?.address) throw new InternalError('interface has no MAC address');
    const alias = aliasOf(ctx, net);
    ctx.argv.netdev(hostNetProps(ctx, net, type, alias));
    ctx.argv.device(nicProps(ctx, net, alias));
  }
}
