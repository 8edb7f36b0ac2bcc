// `virt-failover list [--all]`: virsh list, the same table (vshTable: every cell is
// " " + text, columns padded to the widest cell + 2, a dashed line of sum(width + 3)).
import type { Command } from 'commander';
import { type DomainSummary, formatState } from '../conf/domain-state.js';
import { printVirsh } from './domain-common.js';
import { openBackend } from './backend.js';
import { type CliIo, printJson } from './io.js';

/** Display width: control characters as \xNN like virsh, wide (CJK, emoji) characters count 2. */
function cellWidth(s: string): number {
  let w = 0;
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (cp < 0x20 || cp === 0x7f) w += 4;
    else if (/\p{Mn}|\p{Me}/u.test(ch)) w += 0;
    else if (/[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]|[\u{1f300}-\u{1faff}\u{20000}-\u{3fffd}]/u.test(ch)) w += 2;
    else w += 1;
  }
  return w;
}

function safeCell(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** virsh's vshTablePrint with a header. */
export function renderTable(header: string[], rows: string[][]): string {
  const all = [header, ...rows].map((r) => r.map(safeCell));
  const widths = header.map((_, c) => Math.max(...all.map((r) => cellWidth(r[c]))));
  const line = (r: string[]) =>
    r.map((cell, c) => ` ${cell}${c < r.length - 1 ? ' '.repeat(widths[c] - cellWidth(cell) + 2) : ''}`).join('') + '\n';
  return line(all[0]) + '-'.repeat(widths.reduce((a, w) => a + w + 3, 0)) + '\n' + all.slice(1).map(line).join('');
}

export function renderDomainList(domains: DomainSummary[]): string {
  return renderTable(
    ['Id', 'Name', 'State'],
    domains.map((d) => [d.active && d.id !== undefined ? String(d.id) : '-', d.name, formatState(d, false)]),
  );
}

export function registerList(program: Command, io: CliIo, _setExit: (code: number) => void): void {
  program
    .command('list')
    .description('list domains (active ones; --all: also inactive)')
    .option('--all', 'list inactive and active domains')
    .action(async (opts: { all?: boolean }) => {
      const domains = await openBackend(program).list({ all: opts.all });
      if (io.json) printJson(io, domains);
      else printVirsh(io, renderDomainList(domains));
    });
}
