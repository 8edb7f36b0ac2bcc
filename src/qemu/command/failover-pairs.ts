// The failover pairs of a domain as QEMU knows them: which primary (QEMU id) is paired with which
// standby (QEMU id). Every engine needs it: the embedded driver to migrate, libvirt's backend to check.
import type { Domain } from '../../conf/domain.js';
import type { Hostdev } from '../../conf/hostdev.js';
import type { Interface } from '../../conf/interface.js';
import { assignAliases } from './aliases.js';
import { emulatedPrimaries } from './namespace.js';

export interface FailoverPairIds {
  /** QEMU id of the primary. */
  id: string;
  /** QEMU id of its standby. */
  standbyId: string;
}

function isTransient(t: { type: string } | undefined): boolean {
  return t?.type === 'transient';
}

/**
 * The failover primaries QEMU unplugs: transient-teaming PCI hostdevs and hostdev interfaces (QEMU id
 * = their alias, hostdevN) and emulated primaries passed through <qemu:commandline>; each with the
 * QEMU id of its standby (the teaming's persistent alias, or failover_pair_id).
 */
export function failoverPrimaries(dom: Domain): FailoverPairIds[] {
  const aliases = assignAliases(dom);
  const out: FailoverPairIds[] = [];
  const add = (d: Domain['devices'][number], teaming: { type: string; persistent?: string } | undefined): void => {
    const id = aliases.get(d);
    if (isTransient(teaming) && teaming?.persistent && id) out.push({ id, standbyId: teaming.persistent });
  };
  for (const d of dom.devices) {
    if (d.kind === 'interface' && (d as Interface).type === 'hostdev') add(d, (d as Interface).teaming);
  }
  for (const d of dom.devices) {
    const h = d as Hostdev;
    if (d.kind === 'hostdev' && h.mode === 'subsystem' && h.subsys.type === 'pci') add(d, h.teaming);
  }
  for (const p of emulatedPrimaries(dom)) out.push({ id: p.id, standbyId: p.standbyId });
  return out;
}
