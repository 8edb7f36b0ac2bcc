// `virt-failover domfailover DOMAIN [--json]`: every failover pair of a running domain as its QEMU reports
// it (read-only QMP queries: query-pci, qom-get, x-query-virtio-status) and what `lint` says about it,
// on the embedded driver or on libvirt (--connect). The check an operator runs before a maintenance window.
import type { Command } from 'commander';
import type { FailoverPairState } from '../qemu/migration/index.js';
import { type LintFinding, lintDomainXml } from '../lint/index.js';
import { isVirtFailoverError } from '../util/errors.js';
import { parseXml } from '../util/xml.js';
import { type BackendFailoverStatus, openBackend } from './backend.js';
import { printVirsh, virshAction } from './domain-common.js';
import { type CliIo, printJson } from './io.js';

const HOW: Record<FailoverPairState['negotiatedHow'], string> = {
  'guest-features': "the standby's negotiated guest features (x-query-virtio-status)",
  'primary-plugged': 'inferred: QEMU plugs a primary only after negotiation (no x-query-virtio-status)',
  unknown: 'unknown: this QEMU cannot report negotiated features and the primary is hidden',
};

export interface DomfailoverReport {
  name: string;
  via: string;
  pairs: (FailoverPairState & { lint: LintFinding[] })[];
  /** Findings that name no pair (e.g. a standby without a partner, XML libvirt rejects). */
  lint: LintFinding[];
}

/** Lint's findings on the live XML, each given to the pair whose ids it names. */
export function domfailoverReport(s: BackendFailoverStatus): DomfailoverReport {
  let findings: LintFinding[];
  try {
    findings = lintDomainXml(parseXml(s.definition ?? s.xml, { source: s.name }));
  } catch (e) {
    if (!isVirtFailoverError(e)) throw e;
    findings = [{ severity: 'error', rule: 'unreadable', path: '/', message: e.message }];
  }
  const names = (f: LintFinding, ids: string[]) => ids.some((id) => f.message.includes(`'${id}'`) || f.path.includes(id));
  const pairs = s.pairs.map((p) => ({ ...p, lint: findings.filter((f) => names(f, [p.id, p.standbyId])) }));
  const rest = findings.filter((f) => !pairs.some((p) => p.lint.includes(f)));
  return { name: s.name, via: s.via, pairs, lint: rest };
}

const yesNo = (v: boolean | null): string => (v === null ? 'unknown' : v ? 'yes' : 'no');

export function renderDomfailover(r: DomfailoverReport): string {
  const lines = [`Domain '${r.name}': ${r.pairs.length} failover pair${r.pairs.length === 1 ? '' : 's'} (read through ${r.via})`];
  for (const p of r.pairs) {
    const at = (slot: FailoverPairState['primarySlot']) => (slot ? `${slot.address}${slot.parent ? ` on ${slot.parent}` : ' on the root bus'}` : '-');
    lines.push(`Pair ${p.id} / ${p.standbyId}`);
    lines.push(`  standby:     ${p.standbyId}, ${p.standbyPresent ? `PCI ${at(p.standbySlot)}` : 'not on the PCI buses'}, MAC ${p.mac.standby ?? '-'}`);
    lines.push(`  primary:     ${p.id}, ${p.plugged ? `plugged, PCI ${at(p.primarySlot)}` : 'hidden (not on the PCI buses)'}, MAC ${p.mac.primary ?? '-'}`);
    lines.push(`  MACs equal:  ${yesNo(p.mac.equal)}`);
    lines.push(`  negotiated:  ${yesNo(p.negotiated)} (${HOW[p.negotiatedHow]})`);
    lines.push(`  lint:        ${p.lint.length ? '' : 'clean'}`.trimEnd());
    for (const f of p.lint) lines.push(`    ${f.severity}: ${f.path}: ${f.message} [${f.rule}]`);
  }
  for (const f of r.lint) lines.push(`lint: ${f.severity}: ${f.path}: ${f.message} [${f.rule}]`);
  return lines.join('\n');
}

export function registerDomfailover(program: Command, io: CliIo, setExit: (code: number) => void): void {
  program
    .command('domfailover')
    .description('failover pairs of a running domain: ids, MACs, negotiated, primary plugged or hidden, PCI slot, lint')
    .argument('<domain>', 'domain name, id or uuid')
    .addHelpText('after', "\nWith --connect, QEMU is asked through 'virsh qemu-monitor-command' (read-only queries); libvirt then\nmarks the domain as tainted 'custom-monitor'.\n")
    .action(async (ref: string) => {
      const s = await virshAction(io, ref, `Failed to read the failover pairs of domain '${ref}'`, () => openBackend(program).failoverStatus(ref));
      const r = domfailoverReport(s);
      if (io.json) printJson(io, r);
      else printVirsh(io, renderDomfailover(r));
      // like lint: 1 with errors, 2 with warnings only
      const all = [...r.lint, ...r.pairs.flatMap((p) => p.lint)];
      if (all.some((f) => f.severity === 'error')) setExit(1);
      else if (all.length) setExit(2);
    });
}
