// `virt-failover lint FILE...`: pair sanity beyond what libvirt checks.
// Exit 0 clean, 1 errors, 2 warnings only.
import type { Command } from 'commander';
import { readFileBounded } from '../util/fs.js';
import { parseXml, type XmlElement } from '../util/xml.js';
import { isVirtFailoverError } from '../util/errors.js';
import { lintDomainXml, lintLibvirtVersion, type LintFinding, type LintOptions } from '../lint/index.js';
import { connectUri, openBackend } from './backend.js';
import { type CliIo, printJson } from './io.js';
import { capsNote, chooseCaps } from './qemu-options.js';
import { postParseDomain } from '../qemu/postparse/index.js';
import { type Domain, parseDomain } from '../conf/domain.js';

export interface LintResult {
  file: string;
  findings: LintFinding[];
  errors: number;
  warnings: number;
}

/** The result of linting one document: its findings and their counts. */
export function lintResult(file: string, findings: LintFinding[]): LintResult {
  return {
    file,
    findings,
    errors: findings.filter((f) => f.severity === 'error').length,
    warnings: findings.filter((f) => f.severity === 'warning').length,
  };
}

/** Reads `file` once; an unreadable or unparsable file is one error finding. */
export async function lintFile(file: string, cmdOpts: LintCliOptions = {}, note?: (text: string) => void): Promise<LintResult> {
  let findings: LintFinding[];
  try {
    const root = parseXml(await readFileBounded(file), { source: file });
    findings = lintDomainXml(root, await lintOptionsFor(root, cmdOpts, note));
  } catch (e) {
    if (!isVirtFailoverError(e)) throw e;
    findings = [{ severity: 'error', rule: 'unreadable', path: '/', message: e.message }];
  }
  return lintResult(file, findings);
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

export function renderLintHuman(r: LintResult): string {
  if (r.findings.length === 0) return `${r.file}: clean\n`;
  let s = '';
  for (const f of r.findings) s += `${r.file}: ${f.severity}: ${f.path}: ${f.message} [${f.rule}]\n`;
  return s + `${r.file}: ${plural(r.errors, 'error')}, ${plural(r.warnings, 'warning')}\n`;
}

export function lintExitCode(results: LintResult[]): number {
  if (results.some((r) => r.errors > 0)) return 1;
  if (results.some((r) => r.warnings > 0)) return 2;
  return 0;
}

/**
 * Placement rules need the addresses libvirt would assign: post-parse with --caps, --emulator,
 * the cached capabilities of the domain's emulator or the default QEMU (chooseCaps: the file's
 * own <emulator> is never run), unless --no-probe.
 */
interface LintCliOptions {
  caps?: string;
  emulator?: string;
  probe?: boolean;
}

async function lintOptionsFor(root: XmlElement, cmdOpts: LintCliOptions, note?: (text: string) => void): Promise<LintOptions> {
  if (!cmdOpts.caps && cmdOpts.probe === false) return {};
  let parsed: Domain;
  try {
    parsed = parseDomain(root, { inactive: true });
  } catch {
    return {}; // lintDomainXml reports why libvirt rejects it
  }
  try {
    const choice = await chooseCaps({ caps: cmdOpts.caps, emulator: cmdOpts.emulator }, parsed);
    const text = capsNote(choice, parsed);
    if (text) note?.(text);
    const caps = choice.caps;
    return { postParse: (dom) => postParseDomain(dom, caps, { profile: 'default' }) };
  } catch (e) {
    if (!isVirtFailoverError(e) || cmdOpts.caps || cmdOpts.emulator) throw e;
    return {}; // no usable QEMU here: check only the addresses written in the XML
  }
}

/**
 * With --connect: lint domain NAME's definition as libvirt keeps it (a transient domain: its live XML),
 * plus the known failover bugs of the daemon's libvirt version.
 */
export async function lintLibvirtDomain(program: Command, name: string, cmdOpts: LintCliOptions, note?: (text: string) => void): Promise<LintResult> {
  const backend = openBackend(program);
  const xml = await backend.getXml(name, { inactive: true });
  const label = `${backend.uri}:${name}`;
  let findings: LintFinding[];
  try {
    const root = parseXml(xml, { source: label });
    findings = lintDomainXml(root, await lintOptionsFor(root, cmdOpts, note));
    const version = await backend.daemonVersion();
    if (version) findings.push(...lintLibvirtVersion(root, version));
  } catch (e) {
    if (!isVirtFailoverError(e)) throw e;
    findings = [{ severity: 'error', rule: 'unreadable', path: '/', message: e.message }];
  }
  return lintResult(name, findings);
}

export function registerLint(program: Command, io: CliIo, setExit: (code: number) => void): void {
  program
    .command('lint')
    .description('check failover pairs for what libvirt does not: MACs, aliases, PCIe placement, dropped XML')
    .argument('<file...>', 'domain XML files; with --connect: names of domains defined in that libvirt')
    .option('--caps <file>', 'libvirt QEMU capabilities XML to assign addresses with')
    .option('--emulator <path>', "QEMU binary to probe (default: the cached capabilities of the file's <emulator>, else $VIRT_FAILOVER_QEMU or qemu-system-x86_64; the file's own <emulator> is never run)")
    .option('--no-probe', 'do not probe QEMU; check only addresses written in the XML')
    .action(async (files: string[], cmdOpts: LintCliOptions) => {
      const results: LintResult[] = [];
      const viaLibvirt = connectUri(program) !== undefined;
      for (const f of files) results.push(viaLibvirt ? await lintLibvirtDomain(program, f, cmdOpts, io.err) : await lintFile(f, cmdOpts, io.err));
      if (io.json) printJson(io, results);
      else for (const r of results) io.out(renderLintHuman(r));
      setExit(lintExitCode(results));
    });
}
