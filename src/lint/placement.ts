// Lint rules on where the primary sits: QEMU only *warns* (and the primary
// silently never appears) when it cannot hot-plug it, so we check first:
// a PCIe machine, not on pcie.0, function 0 of a slot of its own, on a
// hotpluggable port.
import type { XmlElement } from '../util/xml.js';
import { parseDomain, type Domain } from '../conf/domain.js';
import { isPciAddress, type PciAddress, formatPciAddressString } from '../conf/address.js';
import type { Controller } from '../conf/controller.js';
import { deviceName, devicesOfKind, type Device } from '../conf/devices.js';
import { deviceInfoOf } from '../conf/validate.js';
import { locateDevices, type LintFinding, type LintOptions, type Located } from './finding.js';
import { isVirtFailoverError } from '../util/errors.js';

/** Controllers QEMU can hot-plug a PCIe function into. */
const HOTPLUG_PCIE_PORTS = new Set(['pcie-root-port', 'pcie-switch-downstream-port']);

const slotKey = (a: PciAddress) => `${a.domain}:${a.bus}:${a.slot}`;

export function lintPrimaryPlacement(dom: Domain, root: XmlElement, primaries: Located<Device>[], opts: LintOptions): LintFinding[] {
  if (primaries.length === 0) return [];
  const out: LintFinding[] = [];
  const machine = dom.os.machine ?? '';
  if (!/q35/.test(machine)) {
    out.push({
      severity: 'error',
      rule: 'machine-not-q35',
      path: '/domain/os/type',
      message: `machine '${machine || 'default'}' has no PCI Express bus: QEMU refuses a failover primary that is not on PCIe (use machine='q35')`,
    });
    return out;
  }
  // Addresses as libvirt would assign them, when we have the QEMU's capabilities.
  let placed = dom;
  if (opts.postParse) {
    try {
      placed = opts.postParse(parseDomain(root, { inactive: true }));
    } catch (e) {
      if (!isVirtFailoverError(e)) throw e;
      out.push({ severity: 'error', rule: 'libvirt-rejects', path: '/domain/devices', message: e.message });
      return out;
    }
  }
  const controllers = devicesOfKind<Controller>(placed.devices, 'controller').filter((c) => c.type === 'pci');
  const bySlot = new Map<string, number[]>();
  placed.devices.forEach((d, i) => {
    const a = deviceInfoOf(d)?.address;
    if (isPciAddress(a)) bySlot.set(slotKey(a), [...(bySlot.get(slotKey(a)) ?? []), i]);
  });
  // Post-parse adds and reorders devices: find each primary again by its path (interface[n] / hostdev[n]).
  const placedIndex = new Map(locateDevices(placed.devices).map((l) => [l.path, l.index]));
  for (const p0 of primaries) {
    const index = placedIndex.get(p0.path);
    if (index === undefined) continue;
    const p = { ...p0, index };
    const a = deviceInfoOf(placed.devices[index])?.address;
    if (!isPciAddress(a)) continue; // libvirt assigns one at define; without caps we cannot tell which
    const where = `${p.path}/address`;
    if (a.bus === 0) {
      out.push({ severity: 'error', rule: 'primary-on-root-bus', path: where, message: `the primary is on pcie.0 (${formatPciAddressString(a)}), which does not support hotplug: QEMU cannot plug or unplug it, so failover never happens` });
      continue;
    }
    const sharing = (bySlot.get(slotKey(a)) ?? []).filter((i) => i !== p.index);
    if (a.function !== 0 || a.multifunction === 'on' || sharing.length > 0) {
      const others = sharing.map((i) => `<${deviceName(placed.devices[i]!)}>`).join(', ');
      out.push({ severity: 'error', rule: 'primary-shares-slot', path: where, message: `the primary must be function 0 of a slot of its own (${formatPciAddressString(a)}${others ? `, shared with ${others}` : ''}): QEMU refuses to plug it` });
    }
    const port = controllers.find((c) => c.index === a.bus);
    if (!port) continue;
    if (!HOTPLUG_PCIE_PORTS.has(port.model ?? '')) {
      out.push({ severity: 'error', rule: 'primary-not-hotpluggable', path: where, message: `the primary is behind controller index ${a.bus} (${port.model ?? 'unknown model'}), which is not a hotpluggable PCIe port: put it on its own pcie-root-port` });
    } else if (port.target?.hotplug === 'off') {
      out.push({ severity: 'error', rule: 'primary-not-hotpluggable', path: where, message: `the primary's pcie-root-port (index ${a.bus}) has hotplug='off': QEMU cannot unplug it for migration` });
    }
  }
  return out;
}
