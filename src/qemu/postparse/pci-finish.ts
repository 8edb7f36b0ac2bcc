// The last steps of PCI address assignment: multifunction='on' on function 0
// of shared slots, and the defaults of PCI controllers that depend on where
// they ended up (model name, chassis, port, busNr).
import type { Controller } from '../../conf/controller.js';
import type { Domain } from '../../conf/domain.js';
import { ConfigUnsupportedError } from '../../util/errors.js';
import { type QemuCaps, hasFlag } from '../caps/index.js';
import { infoDevices, pciControllers, pciOf } from './pci-devices.js';

/** virDomainPCIAddressSetAllMulti: function 0 of a slot with other functions in use says so. */
export function setAllMulti(dom: Domain): void {
  const infos = infoDevices(dom).map((x) => x.info);
  for (const info of infos) {
    const a = pciOf(info);
    if (!a || a.function === 0) continue;
    const f0 = infos.map(pciOf).find((b) => b && b.domain === a.domain && b.bus === a.bus && b.slot === a.slot && b.function === 0);
    if (f0 && f0.multifunction === undefined) f0.multifunction = 'on';
  }
}

/** The QEMU device name of each PCI controller model (qemuDomainPCIControllerSetDefaultModelName). */
function defaultModelName(model: string | undefined, caps: QemuCaps): Controller['modelName'] {
  switch (model) {
    case 'pci-bridge': return 'pci-bridge';
    case 'dmi-to-pci-bridge': return 'i82801b11-bridge';
    case 'pcie-to-pci-bridge': return 'pcie-pci-bridge';
    case 'pcie-root-port': return hasFlag(caps, 'pcie-root-port') ? 'pcie-root-port' : 'ioh3420';
    case 'pcie-switch-upstream-port': return 'x3130-upstream';
    case 'pcie-switch-downstream-port': return 'xio3130-downstream';
    case 'pci-expander-bus': return 'pxb';
    case 'pcie-expander-bus': return 'pxb-pcie';
    default: return undefined;
  }
}

/** qemuDomainAddressFindNewBusNr: two below the lowest busNr in use (256 when none). */
function findNewBusNr(dom: Domain): number | undefined {
  let lowest = 256;
  for (const c of pciControllers(dom)) {
    const n = c.target?.busNr;
    if (n !== undefined && n >= 0 && n < lowest) lowest = n;
  }
  return lowest <= 2 ? undefined : lowest - 2;
}

/** Model name, chassis/port/busNr defaults of every PCI controller, and the bridge index check. */
export function setPciControllerDefaults(dom: Domain, caps: QemuCaps): void {
  for (const c of pciControllers(dom)) {
    const addr = pciOf(c.info) ?? { domain: 0, bus: 0, slot: 0, function: 0 };
    if (!c.modelName) {
      const name = defaultModelName(c.model, caps);
      if (name) c.modelName = name;
    }
    const t = (c.target ??= {});
    switch (c.model) {
      case 'pci-bridge':
        t.chassisNr ??= c.index;
        break;
      case 'pcie-root-port':
        t.chassis ??= c.index;
        t.port ??= (addr.slot << 3) + addr.function;
        break;
      case 'pcie-switch-downstream-port':
        t.chassis ??= c.index;
        t.port ??= addr.slot;
        break;
      case 'pci-expander-bus':
      case 'pcie-expander-bus':
        if (t.busNr === undefined) {
          const busNr = findNewBusNr(dom);
          if (busNr === undefined) {
            throw new ConfigUnsupportedError(
              `No free busNr lower than current lowest busNr is available to auto-assign to bus ${addr.bus}. Must be manually assigned`,
            );
          }
          t.busNr = busNr;
        }
        break;
      default:
        break;
    }
    if (Object.keys(t).length === 0) delete c.target;
    if (c.model === 'pci-bridge' && c.index <= addr.bus) {
      const hex = (n: number) => n.toString(16).padStart(2, '0');
      throw new ConfigUnsupportedError(
        `PCI controller at index ${c.index} (0x${hex(c.index)}) has bus='0x${hex(addr.bus)}', but index must be larger than bus`,
      );
    }
  }
}
