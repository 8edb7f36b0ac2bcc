// 10^4 mutated corpus documents: each parses or throws our typed error, none
// crashes or hangs, and what parses survives a second round trip unchanged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { corpusAvailable } from '../helpers/paths.js';
import { checkDocument, loadCorpusDocuments, mutate, mutationArb, settlingCase } from '../helpers/fuzz-corpus.js';
import { formatDomain, parseDomainXml } from '../../src/conf/domain.js';

const RUNS = Number(process.env.VIRT_FAILOVER_FUZZ_RUNS ?? 10000);

if (corpusAvailable()) {
  const docs = loadCorpusDocuments();
  test(`parser fuzz: ${RUNS} mutated corpus documents`, { timeout: 300000 }, () => {
    const seen = { parsed: 0, settled: 0, rejected: 0 };
    fc.assert(
      fc.property(mutationArb, ([which, muts]) => {
        seen[checkDocument(mutate(docs[which % docs.length]!, muts))]++;
      }),
      { numRuns: RUNS, seed: Number(process.env.VIRT_FAILOVER_FUZZ_SEED ?? 20261123) },
    );
    console.log(`fuzz: ${seen.parsed} parsed, ${seen.settled} settled on the second round trip (a known libvirt case), ${seen.rejected} rejected with a typed error`);
    // Both outcomes must occur, or the mutations are not exercising anything.
    assert.ok(seen.parsed > RUNS / 20 && seen.rejected > RUNS / 20, JSON.stringify(seen));
  });
}

const SOURCELESS_BLOCK_DISK =
  "<domain type='qemu'><name>x</name><memory>1024</memory><os><type arch='x86_64' machine='pc'>hvm</type></os>" +
  "<devices><disk type='block' device='disk'><source/><target dev='vda' bus='virtio'/></disk></devices></domain>";

test("a known libvirt case settles on the second round trip and is named", () => {
  assert.equal(checkDocument(SOURCELESS_BLOCK_DISK), 'settled');
  const first = formatDomain(parseDomainXml(SOURCELESS_BLOCK_DISK));
  assert.equal(settlingCase(first, formatDomain(parseDomainXml(first))), 'sourceless disk of a non-file type');
});

test('any other change on the second round trip is not explained (a dropped attribute, a changed value)', () => {
  const first = formatDomain(parseDomainXml(SOURCELESS_BLOCK_DISK.replace('<source/>', "<source dev='/dev/sdb'/>")));
  assert.equal(settlingCase(first, first.replace(" dev='/dev/sdb'", '')), undefined);
  assert.equal(settlingCase(first, first.replace("bus='virtio'", "bus='sata'")), undefined);
  assert.equal(settlingCase(first, first), undefined);
});
