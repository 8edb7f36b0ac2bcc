// libvirt's corpus, per device: every <interface> and <hostdev> of an input
// NAME.xml, parsed and formatted by us, equals the same device in libvirt's
// NAME.x86_64-latest.xml (after post-parse). Post-parse only adds what the
// input lacks (a PCI <address>, a generated MAC, the QEMU driver's default
// <model>); those are copied over from
// libvirt's output before comparing, nothing else is.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { corpusAvailable, corpusDir } from '../helpers/paths.js';
import { ConformanceSummary } from '../helpers/conformance.js';
import { parseDomainXml } from '../../src/conf/domain.js';
import { XmlWriter } from '../../src/util/xml.js';
import type { Device } from '../../src/conf/devices.js';
import { type Interface, formatInterface } from '../../src/conf/interface.js';
import { type Hostdev, formatHostdev } from '../../src/conf/hostdev.js';

function format(d: Device): string {
  const w = new XmlWriter();
  if (d.kind === 'interface') formatInterface(w, d as Interface);
  else formatHostdev(w, d as Hostdev);
  return w.toString();
}

const ours = (devices: Device[]) => devices.filter((d) => d.kind === 'interface' || d.kind === 'hostdev');

if (corpusAvailable()) {
  const dir = path.join(corpusDir, 'qemuxmlconf');
  const inputs = readdirSync(dir).filter((f) => /^[^.]+\.xml$/.test(f) && existsSync(path.join(dir, f.replace(/\.xml$/, '.x86_64-latest.xml'))));
  const summary = new ConformanceSummary('interface/hostdev xml -> x86_64-latest.xml', 'devices');
  for (const f of inputs.sort()) {
    const input = parseDomainXml(readFileSync(path.join(dir, f)), { source: f });
    const inDevs = ours(input.devices);
    if (inDevs.length === 0) continue;
    test(`corpus devices: ${f}`, () => {
      const outName = f.replace(/\.xml$/, '.x86_64-latest.xml');
      const output = parseDomainXml(readFileSync(path.join(dir, outName)), { source: outName });
      const outDevs = ours(output.devices);
      try {
        assert.equal(inDevs.length, outDevs.length, 'device count');
        inDevs.forEach((d, i) => {
          const o = structuredClone(outDevs[i]) as Interface | Hostdev;
          const n = d as Interface | Hostdev;
          if (!n.info.address) delete o.info.address;
          if (o.kind === 'interface' && n.kind === 'interface' && !n.mac?.address && o.mac?.address) {
            n.mac = { ...n.mac, address: o.mac.address };
          }
          if (o.kind === 'interface' && n.kind === 'interface' && !n.model && o.model) n.model = o.model;
          assert.equal(format(d), format(o));
        });
        summary.pass(f);
      } catch (e) {
        summary.fail(f);
        throw e;
      }
    });
  }
}
