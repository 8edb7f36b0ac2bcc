// bench/conf: cold start of the CLI and a 1,000-document batch in one process,
// measured side by side in one run and printed as ratios to the targets
// (cold start <= 100 ms, batch <= 1 s), beside `virsh domxml-to-native` when
// libvirt is installed. Not a test: run `npm run build && node dist/bench/conf.js`.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { corpusDir, repoRoot } from '../tests/helpers/paths.js';
import { parseDomainXml } from '../src/conf/domain.js';
import { loadLibvirtCaps } from '../src/qemu/caps/index.js';
import { postParseDomain } from '../src/qemu/postparse/postparse.js';
import { buildCommandLine } from '../src/qemu/command/command.js';
import { loadNetworkResolver } from '../src/qemu/command/network-resolve.js';
import { capsFor, defineDocument, fullCorpusCases } from '../tests/helpers/full-corpus.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 15);
const example = path.join(repoRoot, 'examples', 'failover-pair.xml');
const bundle = path.join(repoRoot, 'dist', 'virt-failover.mjs');
const unbundled = path.join(repoRoot, 'dist', 'src', 'cli', 'bin.js');

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Wall time of a whole process, median of RUNS, interleaved so both see the same machine. */
function coldStarts(cmds: Record<string, string[]>): Record<string, number> {
  const times: Record<string, number[]> = {};
  for (let i = 0; i < RUNS; i++) {
    for (const [name, argv] of Object.entries(cmds)) {
      const t0 = performance.now();
      const r = spawnSync(argv[0]!, argv.slice(1), { stdio: 'ignore' });
      const dt = performance.now() - t0;
      if (r.status !== 0 && r.status !== 2) throw new Error(`${name} exited ${r.status}`);
      (times[name] ??= []).push(dt);
    }
  }
  return Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));
}

const caps = await loadLibvirtCaps(path.join(corpusDir, 'qemucaps', 'caps_10.0.0_x86_64.xml'));
const networks = await loadNetworkResolver({
  networkDir: path.join(corpusDir, 'qemuxmlconf-support', 'networkxml2xmlin'),
  portDir: path.join(corpusDir, 'qemuxmlconf-support', 'virnetworkportxml2xmldata'),
});

const cmds: Record<string, string[]> = {
  'node (empty script)': [process.execPath, '-e', '0'],
  'lint (bundle)': [process.execPath, bundle, 'lint', '--no-probe', example],
  // Capabilities from the per-binary probe cache (the usual path; the first run probes).
  'domxml-to-native (bundle)': [process.execPath, bundle, 'domxml-to-native', example],
  'domxml-to-native --caps XML': [process.execPath, bundle, 'domxml-to-native', '--caps', path.join(corpusDir, 'qemucaps', 'caps_10.0.0_x86_64.xml'), example],
  'lint (unbundled modules)': [process.execPath, unbundled, 'lint', '--no-probe', example],
};
// Side by side with libvirt on a document libvirt 9.0 (Debian 12) handles: its daemon crashes
// on an <interface type='hostdev'> teaming pair, and refuses a plain <hostdev> one.
const plainDoc = path.join(corpusDir, 'qemuxmlconf', 'net-virtio.xml');
const virsh = spawnSync('virsh', ['-c', 'qemu:///system', 'version'], { stdio: 'ignore' }).status === 0;
if (virsh) {
  cmds['domxml-to-native net-virtio.xml'] = [process.execPath, bundle, 'domxml-to-native', plainDoc];
  cmds['virsh domxml-to-native net-virtio'] = ['virsh', '-c', 'qemu:///system', 'domxml-to-native', 'qemu-argv', plainDoc];
}
const cold = coldStarts(cmds);

// Batch: 1,000 corpus documents through parse + post-parse + argv in one process.
const dir = path.join(corpusDir, 'qemuxmlconf');
const inputs = readdirSync(dir)
  .filter((f) => f.endsWith('.xml') && !f.includes('.x86_64-') && existsSync(path.join(dir, f.replace(/\.xml$/, '.x86_64-latest.args'))))
  .map((f) => readFileSync(path.join(dir, f), 'utf8'));
let n = 0;
const t0 = performance.now();
while (n < 1000) {
  const text = inputs[n % inputs.length]!;
  const dom = postParseDomain(parseDomainXml(text), caps, { profile: 'libvirt-test' });
  buildCommandLine(dom, caps, { profile: 'libvirt-test', networks });
  n++;
}
const batchMs = performance.now() - t0;

// libvirt's whole x86_64 corpus (qemuxmlconf-full): every input defined (parse, post-parse,
// validate) and, when that succeeds, turned into argv; refusals are part of the work measured.
const full = fullCorpusCases()
  .filter((c) => existsSync(c.input))
  .map((c) => ({ c, text: readFileSync(c.input, 'utf8'), caps: capsFor(c, caps) }));
const fullRounds: number[] = [];
const outcome = { argv: 0, refused: 0 };
for (let round = 0; round < 3; round++) {
  outcome.argv = outcome.refused = 0;
  const t1 = performance.now();
  for (const { c, text, caps: cc } of full) {
    try {
      buildCommandLine(defineDocument(text, c, cc, c.id), cc, { profile: 'libvirt-test', networks });
      outcome.argv++;
    } catch {
      outcome.refused++;
    }
  }
  fullRounds.push(performance.now() - t1);
}

console.log(`bench/conf (${RUNS} runs each, medians; ${new Date().toISOString()})`);
for (const [name, ms] of Object.entries(cold)) {
  const target = name.startsWith('node') || name.startsWith('virsh') ? '' : `  ratio to 100 ms target: ${(ms / 100).toFixed(2)}`;
  console.log(`  cold start  ${name.padEnd(30)} ${ms.toFixed(0).padStart(5)} ms${target}`);
}
if (!virsh) console.log('  virsh: no libvirt daemon here (libvirt measured 43 ms per document with a running daemon)');
else console.log(`  ours / virsh on net-virtio.xml: ${(cold['domxml-to-native net-virtio.xml']! / cold['virsh domxml-to-native net-virtio']!).toFixed(2)}`);
const fullMs = median(fullRounds);
console.log(`  corpus      ${full.length} qemuxmlconf-full documents define+argv ${fullMs.toFixed(0)} ms (${(fullMs / full.length).toFixed(2)} ms/doc, median of 3; first round ${fullRounds[0]!.toFixed(0)} ms); ${outcome.argv} built, ${outcome.refused} refused`);
console.log(`  batch       1000 documents parse+post-parse+argv ${batchMs.toFixed(0)} ms (${(batchMs / 1000).toFixed(2)} ms/doc)  ratio to 1 s target: ${(batchMs / 1000).toFixed(2)}`);
