// 10^4 mutated corpus documents: each parses or throws our typed error, none
// crashes or hangs, and what parses survives a second round trip unchanged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { corpusAvailable } from '../helpers/paths.js';
import { checkDocument, loadCorpusDocuments, mutate, mutationArb } from '../helpers/fuzz-corpus.js';

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
    console.log(`fuzz: ${seen.parsed} parsed, ${seen.settled} settled on the second round trip (as libvirt), ${seen.rejected} rejected with a typed error`);
    // Both outcomes must occur, or the mutations are not exercising anything.
    assert.ok(seen.parsed > RUNS / 20 && seen.rejected > RUNS / 20, JSON.stringify(seen));
  });
}
