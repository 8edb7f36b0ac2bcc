// What libvirt's network driver checks and fills in at net-define (networkValidate in
// bridge_driver.c), after the XML parsed: a bridge name and MAC for the networks whose bridge it
// runs, elements a forward mode cannot use, the device pool's kinds (a hostdev pool lists SR-IOV VFs
// by PCI address: checked in sysfs), DHCP and VLAN rules. Messages are libvirt's.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { formatPciAddressString } from '../../conf/address.js';
import { type Network, forwardModeOf, runsOwnBridge } from '../../conf/network/index.js';
import { type SysfsOptions, pciPaths } from '../../host/index.js';
import { ConfigUnsupportedError, InternalError } from '../../util/errors.js';

/** networkBridgeNameValidate: the first free virbrN, or the given name when no other network uses it. */
function assignBridgeName(net: Network, others: Network[]): void {
  const used = new Set(others.filter((o) => o.name !== net.name).map((o) => o.bridge.name).filter((b): b is string => !!b));
  const name = net.bridge.name;
  if (name && !name.includes('%d')) {
    if (used.has(name)) throw new InternalError(`bridge name '${name}' already in use.`);
    return;
  }
  const template = name ?? 'virbr%d';
  for (let i = 0; i < 256; i++) {
    const candidate = template.replace('%d', String(i));
    if (!used.has(candidate)) {
      net.bridge.name = candidate;
      return;
    }
  }
  throw new InternalError(`Bridge generation exceeded max id 256`);
}

function unsupported(net: Network, what: string): never {
  throw new ConfigUnsupportedError(`Unsupported ${what} in network ${net.name} with forward mode='${forwardModeOf(net)}'`);
}

/** Checks a definition as libvirt does at define, filling in bridge name and MAC; `others` are the other networks. */
export function validateNetworkForDriver(net: Network, others: Network[], host: SysfsOptions = {}): void {
  const mode = forwardModeOf(net);
  let bandwidthAllowed = false;
  if (runsOwnBridge(mode)) {
    assignBridgeName(net, others);
    if (!net.mac) {
      const r = randomBytes(3);
      net.mac = ['52', '54', '00', ...[...r].map((b) => b.toString(16).padStart(2, '0'))].join(':');
    }
    bandwidthAllowed = true;
  } else {
    if (mode === 'bridge' && net.bridge.name) bandwidthAllowed = true;
    if (net.mac) unsupported(net, '<mac> element');
    if (net.ips.length) unsupported(net, '<ip> element');
    if (net.dns && (net.dns.txts.length || net.dns.hosts.length || net.dns.srvs.length)) unsupported(net, '<dns> element');
    if (net.domain) unsupported(net, '<domain> element');
  }
  if (net.bandwidth && !bandwidthAllowed) unsupported(net, 'network-wide <bandwidth> element');

  const ifs = net.forward?.ifs ?? [];
  const kinds = (net.forward?.pf !== undefined ? 1 : 0) + (ifs.some((i) => i.type === 'netdev') ? 1 : 0) + (ifs.some((i) => i.type === 'pci') ? 1 : 0);
  if (kinds > 1) throw new ConfigUnsupportedError(`<address>, <interface>, and <pf> elements of <forward> in network ${net.name} are mutually exclusive`);
  for (const i of ifs) {
    if (i.type === 'netdev' && mode === 'hostdev') {
      throw new ConfigUnsupportedError(
        `hostdev network '${net.name}' lists '${i.dev}' in the device pool, but hostdev networks require all devices to be listed by PCI address, not network device name`,
      );
    }
    if (i.type === 'pci') {
      if (mode !== 'hostdev') {
        throw new ConfigUnsupportedError(
          `network '${net.name}' has forward mode '${mode}' but lists a device by PCI address in the device pool. This is only supported for networks with forward mode 'hostdev'`,
        );
      }
      const dir = pciPaths(host).device(formatPciAddressString(i.address));
      if (!existsSync(path.join(dir, 'physfn'))) {
        throw new ConfigUnsupportedError(`device '${dir}' in network '${net.name}' is not an SR-IOV Virtual Function`);
      }
    }
  }

  let v4 = false;
  let v6 = false;
  for (const ip of net.ips) {
    if (!ip.ranges.length && !ip.hosts.length) continue;
    const six = ip.address?.includes(':');
    if (six && v6) throw new ConfigUnsupportedError('Multiple IPv6 dhcp sections found -- dhcp is supported only for a single IPv6 address on each network');
    if (!six && v4) throw new ConfigUnsupportedError('Multiple IPv4 dhcp sections found -- dhcp is supported only for a single IPv4 address on each network');
    if (six) v6 = true;
    else v4 = true;
  }

  const vlanAllowed = mode === 'hostdev' || mode === 'passthrough' || (mode === 'bridge' && net.virtualport?.type === 'openvswitch');
  const vlanUsed = !!net.vlan;
  let badVlan = false;
  const defaultGroup = net.portgroups.find((p) => p.isDefault);
  for (const pg of net.portgroups) {
    if (vlanUsed || pg.vlan) {
      if (pg.virtualport) {
        // A portgroup's <virtualport> without a type takes the network's (libvirt's openvswitch example).
        if (mode !== 'bridge' || (pg.virtualport.type ?? net.virtualport?.type) !== 'openvswitch') badVlan = true;
      } else if (!vlanAllowed) badVlan = true;
    }
    if (pg.bandwidth && !bandwidthAllowed) {
      throw new ConfigUnsupportedError(`Unsupported <bandwidth> element in network '${net.name}' in portgroup '${pg.name}' with forward mode='${mode}'`);
    }
  }
  if (badVlan || (vlanUsed && !vlanAllowed && !defaultGroup)) {
    throw new ConfigUnsupportedError(`<vlan> element specified for network ${net.name}, whose type doesn't support vlan configuration`);
  }
}
