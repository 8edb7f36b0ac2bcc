// lint for failover primaries passed through <qemu:commandline> (an emulated
// PCIe NIC standing in for a VF): same pairing rules, plus QEMU's own needs.
import type { Domain } from '../conf/domain.js';
import type { Controller } from '../conf/controller.js';
import { devicesOfKind } from '../conf/devices.js';
import { isVirtFailoverError } from '../util/errors.js';
import { emulatedPrimaries, type EmulatedPrimary } from '../qemu/command/index.js';
import type { LintFinding } from './finding.js';

const PATH = '/domain/qemu:commandline';

interface Standby {
  mac?: string;
}

export function lintEmulatedPrimaries<S extends Standby>(dom: Domain, standbys: Map<string, S>): { findings: LintFinding[]; partners: Map<string, string[]> } {
  const findings: LintFinding[] = [];
  const partners = new Map<string, string[]>();
  let primaries: EmulatedPrimary[];
  try {
    primaries = emulatedPrimaries(dom);
  } catch (e) {
    if (!isVirtFailoverError(e)) throw e;
    return { findings: [{ severity: 'error', rule: 'libvirt-rejects', path: PATH, message: e.message }], partners };
  }
  const rootPorts = new Set(devicesOfKind<Controller>(dom.devices, 'controller').filter((c) => c.type === 'pci' && c.model === 'pcie-root-port').map((c) => `pci.${c.index}`));
  for (const p of primaries) {
    const what = `the emulated primary '${p.id}'`;
    const standby = standbys.get(p.standbyId);
    if (!standby) {
      findings.push({ severity: 'error', rule: 'transient-alias-missing', path: PATH, message: `${what} has failover_pair_id='${p.standbyId}', which names no standby interface alias` });
    } else {
      partners.set(p.standbyId, [...(partners.get(p.standbyId) ?? []), `${PATH}[@id='${p.id}']`]);
      if (!p.mac) findings.push({ severity: 'error', rule: 'mac-missing', path: PATH, message: `${what} has no mac=: QEMU generates one, different from the standby's` });
      else if (standby.mac && standby.mac !== p.mac) {
        findings.push({ severity: 'error', rule: 'mac-mismatch', path: PATH, message: `${what} has MAC ${p.mac}, the standby ${standby.mac}: the guest's net_failover pairs by MAC and silently ignores the primary` });
      }
    }
    if (p.bus === undefined || p.bus === 'pcie.0') {
      findings.push({ severity: 'error', rule: 'primary-on-root-bus', path: PATH, message: `${what} ${p.bus ? 'is on pcie.0' : 'names no bus, so QEMU puts it on pcie.0'}, which does not support hotplug: give it bus=pci.N of its own pcie-root-port` });
    } else if (!rootPorts.has(p.bus)) {
      findings.push({ severity: 'error', rule: 'primary-not-hotpluggable', path: PATH, message: `${what} is on bus '${p.bus}', which is not a pcie-root-port of this domain` });
    } else if (!p.json) {
      // Measured with QEMU 7.2: key=value -devices are created before JSON ones, so the port does not exist yet.
      findings.push({ severity: 'error', rule: 'emulated-primary-keyval', path: PATH, message: `${what} is written as key=value: QEMU creates it before libvirt's JSON root ports and fails with "Bus '${p.bus}' not found"; write the -device as JSON` });
    }
    if (p.props.get('romfile') !== '') {
      findings.push({ severity: 'warning', rule: 'emulated-primary-romfile', path: PATH, message: `${what} has an option ROM: add romfile= (empty), or the destination refuses the migration (unknown ramblock)` });
    }
  }
  return { findings, partners };
}
