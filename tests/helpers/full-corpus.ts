// libvirt 11.3.0's x86_64 qemuxmlconf corpus (../shared/.../qemuxmlconf-full), run the way
// qemuxmlconftest registers each test: the three steps of every case, as plain functions
// shared by the conformance suite and bench/conf.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { corpusDir } from './paths.js';
import { QEMU_CAPS_FLAG_NAMES, parseRegistrations, type Registration } from './harness.js';
import { formatDomain, parseDomainXml, type Domain } from '../../src/conf/domain.js';
import { loadLibvirtCaps, type QemuCaps } from '../../src/qemu/caps/index.js';
import { defineDomain } from '../../src/qemu/postparse/index.js';
import { buildCommandLine, renderArgsFile } from '../../src/qemu/command/index.js';
import { loadNetworkResolver, type NetworkResolver } from '../../src/qemu/command/network-resolve.js';

export const fullCorpusDir = path.join(corpusDir, 'qemuxmlconf-full');

export interface FullCase {
  /** `NAME` or `NAME.abi-update`: the id on the passing lists. */
  id: string;
  reg: Registration;
  /** Absolute paths; undefined when the corpus has no such file for this case. */
  input: string;
  expectedXml?: string;
  expectedArgs?: string;
  expectedErr?: string;
  /** The harness option this case needs that we cannot apply (it still runs, as registered otherwise). */
  unapplied: string[];
}

/** Every x86_64-latest registration that has expected output in the corpus. */
export function fullCorpusCases(dir = fullCorpusDir): FullCase[] {
  const files = new Set(readdirSync(dir));
  const regs = parseRegistrations(readFileSync(path.join(corpusDir, 'harness', 'qemuxmlconftest.c'), 'utf8'));
  const seen = new Set<string>();
  const out: FullCase[] = [];
  for (const reg of regs) {
    const base = `${reg.name}.${reg.suffix}`;
    const has = (ext: string): string | undefined => (files.has(`${base}.${ext}`) ? path.join(dir, `${base}.${ext}`) : undefined);
    const [xml, args, err] = [has('xml'), has('args'), has('err')];
    if (!xml && !args && !err) continue;
    const id = reg.abiUpdate ? `${reg.name}.abi-update` : reg.name;
    if (seen.has(id)) continue; // e.g. net-user registered twice (FLAG_SLIRP_HELPER) with one output
    seen.add(id);
    const unapplied = [...reg.harnessOptions, ...[...reg.capsDel, ...reg.capsAdd].filter((c) => !QEMU_CAPS_FLAG_NAMES[c])];
    out.push({ id, reg, input: path.join(dir, `${reg.name}.xml`), expectedXml: xml, expectedArgs: args, expectedErr: err, unapplied });
  }
  return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

export interface CorpusEnv {
  caps: QemuCaps;
  networks: NetworkResolver;
}

export async function loadCorpusEnv(): Promise<CorpusEnv> {
  const support = path.join(corpusDir, 'qemuxmlconf-support');
  return {
    caps: await loadLibvirtCaps(path.join(corpusDir, 'qemucaps', 'caps_10.0.0_x86_64.xml')),
    networks: await loadNetworkResolver({
      networkDir: path.join(support, 'networkxml2xmlin'),
      portDir: path.join(support, 'virnetworkportxml2xmldata'),
    }),
  };
}

/** The caps as the harness hands them to this case (ARG_QEMU_CAPS_DEL / ARG_QEMU_CAPS applied). */
export function capsFor(c: FullCase, caps: QemuCaps): QemuCaps {
  if (!c.reg.capsDel.length && !c.reg.capsAdd.length) return caps;
  const flags = new Set(caps.flags);
  for (const name of c.reg.capsDel) if (QEMU_CAPS_FLAG_NAMES[name]) flags.delete(QEMU_CAPS_FLAG_NAMES[name]);
  for (const name of c.reg.capsAdd) if (QEMU_CAPS_FLAG_NAMES[name]) flags.add(QEMU_CAPS_FLAG_NAMES[name]);
  return { ...caps, flags };
}

/** What `virsh define` does with a document (parse, post-parse, validate), as qemuxmlconftest's step 1. */
export function defineDocument(text: string, c: FullCase, caps: QemuCaps, source: string): Domain {
  const dom = parseDomainXml(text, { source });
  return defineDomain(dom, caps, { profile: 'libvirt-test', stripMachineAliases: true, abiUpdate: c.reg.abiUpdate });
}

export type StepResult = { ok: true } | { ok: false; reason: string };

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

function compare(actual: string, expected: string): StepResult {
  if (actual === expected) return { ok: true };
  const a = actual.split('\n');
  const b = expected.split('\n');
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  return { ok: false, reason: `differs at line ${i + 1}: got ${JSON.stringify(a[i] ?? '')}, want ${JSON.stringify(b[i] ?? '')}` };
}

/** (a) canonical round trip: format(parse(expected .xml)) is the same bytes. */
export function roundTripStep(c: FullCase, read: (f: string) => string): StepResult | undefined {
  if (!c.expectedXml) return undefined;
  const text = read(c.expectedXml);
  try {
    return compare(formatDomain(parseDomainXml(text, { source: path.basename(c.expectedXml) })), text);
  } catch (e) {
    return { ok: false, reason: `error: ${message(e)}` };
  }
}

/** (b) post-parse: the input defined and formatted is the expected .xml, or fails with the exact .err. */
export function postParseStep(c: FullCase, caps: QemuCaps, read: (f: string) => string): StepResult | undefined {
  const expectErr = c.reg.parseError && c.expectedErr;
  if (!c.expectedXml && !expectErr) return undefined;
  let actual: string;
  try {
    if (!existsSync(c.input)) throw new Error(`Failed to open file '${c.input}': No such file or directory`);
    actual = formatDomain(defineDocument(read(c.input), c, caps, path.basename(c.input)));
  } catch (e) {
    if (!expectErr) return { ok: false, reason: `error: ${message(e)}` };
    return compare(`${message(e)}\n`, read(c.expectedErr!));
  }
  if (expectErr) return { ok: false, reason: 'no error (expected a parse error)' };
  return compare(actual, read(c.expectedXml!));
}

/** (c) command line: the expected .xml (the defined domain) gives the .args, or fails with the exact .err. */
export function argvStep(c: FullCase, env: CorpusEnv, caps: QemuCaps, read: (f: string) => string): StepResult | undefined {
  const expectErr = c.reg.failure && c.expectedErr;
  if (!c.expectedArgs && !expectErr) return undefined;
  let actual: string;
  try {
    const dom = c.expectedXml
      ? parseDomainXml(read(c.expectedXml), { source: path.basename(c.expectedXml) })
      : defineDocument(read(c.input), c, caps, path.basename(c.input));
    actual = renderArgsFile(buildCommandLine(dom, caps, { profile: 'libvirt-test', networks: env.networks }));
  } catch (e) {
    if (!expectErr) return { ok: false, reason: `error: ${message(e)}` };
    return compare(`${message(e)}\n`, read(c.expectedErr!));
  }
  if (expectErr) return { ok: false, reason: 'no error (expected a command-line failure)' };
  return compare(actual, read(c.expectedArgs!));
}

/**
 * Idempotence: a document post-parsed and formatted, read back and post-parsed again,
 * comes out unchanged (libvirt's "XML OUT -> XML" step, on our own output).
 */
export function idempotenceStep(c: FullCase, caps: QemuCaps, read: (f: string) => string): StepResult | undefined {
  if (!c.expectedXml || c.reg.parseError || !existsSync(c.input)) return undefined;
  try {
    const once = formatDomain(defineDocument(read(c.input), c, caps, path.basename(c.input)));
    return compare(formatDomain(defineDocument(once, c, caps, 'once')), once);
  } catch (e) {
    return { ok: false, reason: `error: ${message(e)}` };
  }
}

/** A reason reduced to its kind, for counting the commonest failures. */
export function reasonKind(reason: string): string {
  if (reason.startsWith('differs')) {
    const m = /want "\s*(<\/?[\w:-]+|-[\w-]+)/.exec(reason) ?? /got "\s*(<\/?[\w:-]+|-[\w-]+)/.exec(reason);
    return `differs near ${m?.[1] ?? '?'}`;
  }
  return reason.replace(/'[^']*'/g, "'…'").slice(0, 120);
}
