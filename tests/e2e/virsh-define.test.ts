// Our XML must stay accepted by real `virsh define`: define and undefine what our formatter and `pair`
// write, on a libvirt daemon of the test's own (tests/helpers/libvirt-host.ts; in CI a libvirt that cannot
// run is a failure), or else on qemu:///system when one answers there.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { repoRoot, testDataDir } from '../helpers/paths.js';
import { formatDomain, parseDomainXml } from '../../src/conf/domain.js';
import { LibvirtHost, libvirtSkip } from '../helpers/libvirt-host.js';

const hostSkip = libvirtSkip();
const systemDaemon = spawnSync('virsh', ['-c', 'qemu:///system', 'version'], { stdio: 'ignore' }).status === 0;
const skip = hostSkip && !systemDaemon ? `${hostSkip}, and no libvirt daemon answers on qemu:///system` : false;
let uri = 'qemu:///system';
let hostDir = '';
let host: LibvirtHost | undefined;
const virsh = (...args: string[]) => spawnSync('virsh', ['-c', uri, ...args], { encoding: 'utf8' });

before(async () => {
  if (skip || hostSkip) return;
  hostDir = mkdtempSync(path.join(tmpdir(), 'vf-virsh-host-'));
  host = await LibvirtHost.start({ dir: hostDir, name: 'lvdefine' });
  uri = host.uri;
});

after(async () => {
  await host?.stop();
  if (hostDir) rmSync(hostDir, { recursive: true, force: true });
});

// Documents written for libvirt 11.3 that an older daemon cannot know (e.g. the itco watchdog in 9.0).
const NEEDS_NEWER_LIBVIRT = new Set(['failover-emulated-primary.xml']);

const docs = [
  ...readdirSync(path.join(repoRoot, 'examples')).filter((f) => f.endsWith('.xml') && !NEEDS_NEWER_LIBVIRT.has(f)).map((f) => path.join(repoRoot, 'examples', f)),
  ...readdirSync(path.join(testDataDir, 'pair')).filter((f) => f.endsWith('.out.xml')).map((f) => path.join(testDataDir, 'pair', f)),
];

// Without a daemon: one skipped test (named in .ci/skip-allowlist), not one per document.
if (skip) test('virsh define accepts our output', { skip }, () => undefined);
for (const file of skip ? [] : docs) {
  test(`virsh define accepts our output: ${path.relative(repoRoot, file)}`, () => {
    const dom = parseDomainXml(readFileSync(file), { source: file });
    dom.name = `vf-test-${randomUUID().slice(0, 8)}`;
    dom.uuid = randomUUID();
    const dir = mkdtempSync(path.join(tmpdir(), 'vf-virsh-'));
    try {
      const xml = path.join(dir, 'dom.xml');
      writeFileSync(xml, formatDomain(dom));
      const r = virsh('define', xml);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`Domain '${dom.name}' defined`));
      const u = virsh('undefine', dom.name);
      assert.equal(u.status, 0, u.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
