// Failover bugs of particular libvirt releases, named by `lint --connect` for the daemon it talks to.
// Measured in this project on Debian 12's libvirt 9.0.0 (see README, "Using an existing libvirt").
import { parseDomain, type Domain } from '../conf/domain.js';
import type { Hostdev } from '../conf/hostdev.js';
import type { Interface } from '../conf/interface.js';
import type { XmlElement } from '../util/xml.js';
import { locateDevices, type LintFinding } from './finding.js';

export type LibvirtVersion = readonly [major: number, minor: number, micro: number];

interface KnownBug {
  /** Releases affected, by major.minor (the measured ones). */
  affects: (v: LibvirtVersion) => boolean;
  /** Which failover device it hits. */
  hits: (dom: Domain) => string[];
  text: string;
}

const isTransient = (t: { type: string } | undefined): boolean => t?.type === 'transient';

function paths(dom: Domain, pick: (d: Domain['devices'][number]) => boolean): string[] {
  return locateDevices(dom.devices).filter((l) => pick(l.dev)).map((l) => l.path);
}

const KNOWN_BUGS: readonly KnownBug[] = [
  {
    affects: ([ma, mi]) => ma === 9 && mi === 0,
    hits: (dom) => paths(dom, (d) => d.kind === 'interface' && (d as Interface).type === 'hostdev' && isTransient((d as Interface).teaming)),
    text: "crashes its daemon building the QEMU command line of an <interface type='hostdev'> teaming primary (seen in virsh domxml-to-native)",
  },
  {
    affects: ([ma, mi]) => ma === 9 && mi === 0,
    hits: (dom) => paths(dom, (d) => d.kind === 'hostdev' && isTransient((d as Hostdev).teaming)),
    text: "refuses a plain <hostdev> teaming primary: \"invalid PCI passthrough type 'default'\"",
  },
];

/** Warnings for the pairs of `root` that `version` is known to mishandle. */
export function lintLibvirtVersion(root: XmlElement, version: LibvirtVersion): LintFinding[] {
  let dom: Domain;
  try {
    dom = parseDomain(root, { inactive: true });
  } catch {
    return []; // lintDomainXml reports why
  }
  const v = version.join('.');
  const out: LintFinding[] = [];
  for (const bug of KNOWN_BUGS) {
    if (!bug.affects(version)) continue;
    for (const path of bug.hits(dom)) {
      out.push({ severity: 'warning', rule: 'libvirt-version-bug', path, message: `libvirt ${v} (the daemon connected to) ${bug.text}; use a newer libvirt for this pair` });
    }
  }
  return out;
}
