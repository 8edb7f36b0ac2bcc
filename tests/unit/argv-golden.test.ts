// Our own command-line cases (tests/data/argv, see its README): the teaming pairs
// libvirt's corpus does not cover, our default profile, and the runtime checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { corpusAvailable, corpusDir, testDataDir } from '../helpers/paths.js';
import { assertGolden, regenerate } from '../helpers/golden.js';
import { parseDomainXml } from '../../src/conf/domain.js';
import { loadLibvirtCaps } from '../../src/qemu/caps/libvirt-xml.js';
import { type BuildOptions, buildCommandLine, renderArgsFile } from '../../src/qemu/command/command.js';
import { loadNetworkResolver } from '../../src/qemu/command/network-resolve.js';

const dir = path.join(testDataDir, 'argv');

if (corpusAvailable()) {
  const caps = loadLibvirtCaps(path.join(corpusDir, 'qemucaps', 'caps_10.0.0_x86_64.xml'));
  const networks = loadNetworkResolver({ networkDir: path.join(dir, 'networks'), portDir: path.join(dir, 'ports') });
  const names = readdirSync(dir).filter((f) => f.endsWith('.xml')).map((f) => f.slice(0, -4)).sort();
  for (const name of names) {
    test(`argv case ${name}`, async () => {
      const base = path.join(dir, name);
      const optsFile = `${base}.opts.json`;
      const extra = existsSync(optsFile) ? (JSON.parse(readFileSync(optsFile, 'utf8')) as Partial<BuildOptions>) : {};
      const opts: BuildOptions = { profile: 'libvirt-test', ...extra, networks: await networks };
      let out: string;
      let kind: 'args' | 'err';
      try {
        out = renderArgsFile(buildCommandLine(parseDomainXml(readFileSync(`${base}.xml`, 'utf8')), await caps, opts));
        kind = 'args';
      } catch (e) {
        out = `${e instanceof Error ? e.message : String(e)}\n`;
        kind = 'err';
      }
      const other = `${base}.${kind === 'args' ? 'err' : 'args'}`;
      if (!regenerate) assert.ok(!existsSync(other), `${name}: expected ${path.basename(other)}, got ${kind === 'args' ? 'a command line' : `an error: ${out}`}`);
      assertGolden(out, `${base}.${kind}`);
    });
  }
}
