// Failover pair sanity, the public face of this layer: the lint rules (lint.ts and the files it lists) and
// generating a correct pair (pair.ts).
export { lintDomainXml, type LintFinding, type LintOptions, type LintSeverity } from './lint.js';
export { addFailoverPair, pairDevicesXml, randomMac, type PairOptions } from './pair.js';
export { lintLibvirtVersion, type LibvirtVersion } from './libvirt-version.js';
