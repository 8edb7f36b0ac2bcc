// bench/fuzz: the parser fuzz at 10^6 cases (not part of npm test).
// Run: npx tsc -p . && node dist/bench/fuzz.js [runs] [seed]
import fc from 'fast-check';
import { checkDocument, loadCorpusDocuments, mutate, mutationArb } from '../tests/helpers/fuzz-corpus.js';

const runs = Number(process.argv[2] ?? 1_000_000);
const seed = Number(process.argv[3] ?? Date.now() % 2 ** 31);
const docs = loadCorpusDocuments();
const seen = { parsed: 0, settled: 0, rejected: 0 };
const t0 = performance.now();
fc.assert(
  fc.property(mutationArb, ([which, muts]) => {
    seen[checkDocument(mutate(docs[which % docs.length]!, muts))]++;
  }),
  { numRuns: runs, seed },
);
const ms = performance.now() - t0;
console.log(`fuzz: ${runs} cases (seed ${seed}) in ${(ms / 1000).toFixed(1)} s: ${seen.parsed} parsed, ${seen.settled} settled on the second round trip, ${seen.rejected} rejected; ${(ms * 1000 / runs).toFixed(1)} µs/case`);
