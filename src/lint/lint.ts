// `lint`: what libvirt does not check about a failover pair, and what it
// accepts but silently drops. Each rule has a stable id; findings carry the
// element path (XPath-like, 1-based like libvirt's error paths).
import type { XmlElement } from '../util/xml.js';
import { isVirtFailoverError } from '../util/errors.js';
import { parseDomain, type Domain } from '../conf/domain.js';
import { validateDomain } from '../conf/validate.js';
import type { Hostdev } from '../conf/hostdev.js';
import { checkDuplicateHostdevs } from '../conf/hostdev-duplicates.js';
import type { Interface } from '../conf/interface.js';
import { isVirtioModel } from '../conf/interface-driver.js';
import { droppedAliases, isUserAlias } from '../conf/device-info.js';
import { isRawDevice, type Device } from '../conf/devices.js';
import { validateDomainForQemu } from '../qemu/postparse/index.js';
import { locateDevices, type LintFinding, type LintOptions, type Located } from './finding.js';
import { lintRawXml, lintNotUnderstood } from './xml.js';
import { lintPrimaryPlacement } from './placement.js';
import { lintEmulatedPrimaries } from './emulated.js';

export type { LintFinding, LintOptions, LintSeverity } from './finding.js';

interface PairMember {
  at: Located<Device>;
  teamingPersistent?: string;
  mac?: string;
  kind: 'interface' | 'hostdev';
}

export function lintDomainXml(root: XmlElement, opts: LintOptions = {}): LintFinding[] {
  const findings: LintFinding[] = lintRawXml(root);
  let dom: Domain;
  try {
    dom = parseDomain(root, { inactive: true });
    checkDuplicateHostdevs(dom);
  } catch (e) {
    if (!isVirtFailoverError(e)) throw e;
    findings.unshift({ severity: 'error', rule: 'libvirt-rejects', path: '/domain', message: e.message });
    return findings;
  }
  try {
    validateDomain(dom);
    validateDomainForQemu(dom);
  } catch (e) {
    if (!isVirtFailoverError(e)) throw e;
    findings.unshift({ severity: 'error', rule: 'libvirt-rejects', path: '/domain', message: e.message });
  }
  findings.push(...lintPairs(dom, root, opts));
  findings.push(...lintNotUnderstood(dom, locateDevices(dom.devices)));
  return findings;
}

function lintPairs(dom: Domain, root: XmlElement, opts: LintOptions): LintFinding[] {
  const out: LintFinding[] = [];
  const located = locateDevices(dom.devices);
  const standbys = new Map<string, PairMember>();
  const transients: PairMember[] = [];
  const droppedByAlias = new Map<string, Located<Device>>();

  for (const at of located) {
    if (isRawDevice(at.dev)) continue;
    const info = (at.dev as Interface | Hostdev).info;
    const dropped = info ? droppedAliases.get(info) : undefined;
    if (dropped) droppedByAlias.set(dropped.alias, at);
    if (at.dev.kind === 'interface') {
      const net = at.dev as Interface;
      if (net.teaming?.type === 'persistent') {
        if (!isVirtioModel(net.model?.type)) {
          out.push({ severity: 'error', rule: 'standby-not-virtio', path: `${at.path}/model`, message: `the standby (persistent) interface must be virtio, not '${net.model?.type ?? 'default'}'` });
        }
        const member: PairMember = { at, mac: net.mac?.address, kind: 'interface' };
        if (info.alias) standbys.set(info.alias, member);
        else if (!dropped) {
          out.push({ severity: 'error', rule: 'standby-without-alias', path: at.path, message: "the standby has no user alias (<alias name='ua-...'/>), so no transient device can name it" });
        }
      } else if (net.teaming?.type === 'transient') {
        transients.push({ at, teamingPersistent: net.teaming.persistent, mac: net.mac?.address, kind: 'interface' });
        if (net.type === 'network' && isVirtioModel(net.model?.type)) {
          out.push({ severity: 'warning', rule: 'transient-virtio-model-ignored', path: `${at.path}/model`, message: "<model type='virtio'/> on the transient (primary) interface is ignored: it becomes a vfio-pci device" });
        }
      }
    } else if (at.dev.kind === 'hostdev') {
      const hd = at.dev as Hostdev;
      if (hd.teaming?.type === 'transient') transients.push({ at, teamingPersistent: hd.teaming.persistent, kind: 'hostdev' });
    }
  }

  // Emulated primaries passed through <qemu:commandline> pair like transient hostdevs.
  const emulated = lintEmulatedPrimaries(dom, standbys);
  out.push(...emulated.findings);
  const partners = new Map<string, string[]>(emulated.partners);
  for (const t of transients) {
    const alias = t.teamingPersistent;
    if (alias === undefined) continue; // libvirt's own validation reports it
    const standby = standbys.get(alias);
    if (!standby) {
      const dropped = droppedByAlias.get(alias);
      out.push({
        severity: 'error',
        rule: 'transient-alias-missing',
        path: `${t.at.path}/teaming`,
        message: dropped && !isUserAlias(alias)
          ? `persistent='${alias}' names ${dropped.path}, but libvirt drops aliases without the 'ua-' prefix, so the reference dangles`
          : `persistent='${alias}' names no interface alias`,
      });
      continue;
    }
    const list = partners.get(alias) ?? [];
    list.push(`${t.at.path}/teaming`);
    partners.set(alias, list);
    out.push(...lintMacs(standby, t));
    out.push(...lintPrimaryDevice(t));
  }
  for (const [alias, standby] of standbys) {
    const list = partners.get(alias) ?? [];
    if (list.length === 0) {
      out.push({ severity: 'warning', rule: 'persistent-without-transient', path: `${standby.at.path}/teaming`, message: `the standby '${alias}' has no transient (primary) partner: failover does nothing` });
    } else if (list.length > 1) {
      out.push({ severity: 'error', rule: 'multiple-transients', path: list[1]!, message: `more than one transient device names '${alias}' (${list.join(', ')}); QEMU accepts only one primary per standby` });
    }
  }
  if (transients.length > 0 || standbys.size > 0) out.push(...lintPrimaryPlacement(dom, root, transients.map((t) => t.at), opts));
  return out;
}

function lintMacs(standby: PairMember, t: PairMember): LintFinding[] {
  if (t.kind === 'hostdev') {
    return [{
      severity: 'warning',
      rule: 'hostdev-mac-not-shown',
      path: t.at.path,
      message: `a plain <hostdev> primary cannot carry a MAC: set the VF's MAC on the host (via its PF) to the standby's${standby.mac ? ` (${standby.mac})` : ''}, or use <interface type='hostdev'>`,
    }];
  }
  const out: LintFinding[] = [];
  if (!standby.mac) out.push({ severity: 'error', rule: 'mac-missing', path: standby.at.path, message: 'the standby has no <mac>: libvirt generates a random one, different from the primary\'s' });
  if (!t.mac) out.push({ severity: 'error', rule: 'mac-missing', path: t.at.path, message: 'the primary has no <mac>: libvirt generates a random one, different from the standby\'s' });
  if (standby.mac && t.mac && standby.mac !== t.mac) {
    out.push({ severity: 'error', rule: 'mac-mismatch', path: `${t.at.path}/mac`, message: `the primary's MAC ${t.mac} differs from the standby's ${standby.mac}: the guest's net_failover pairs by MAC and silently ignores the primary` });
  }
  return out;
}

function lintPrimaryDevice(t: PairMember): LintFinding[] {
  const out: LintFinding[] = [];
  const subsys = t.kind === 'interface' ? (t.at.dev as Interface).hostdev : (t.at.dev as Hostdev).mode === 'subsystem' ? (t.at.dev as Hostdev & { mode: 'subsystem' }).subsys : undefined;
  if (!subsys) return out;
  if (subsys.managed !== 'yes') {
    out.push({ severity: 'warning', rule: 'hostdev-not-managed', path: t.at.path, message: "managed='yes' is missing: the VF must be bound to vfio-pci by hand on every host before start and migration" });
  }
  if (subsys.type === 'pci' && subsys.driver?.name !== undefined && subsys.driver.name !== 'vfio') {
    out.push({ severity: 'error', rule: 'hostdev-driver-not-vfio', path: `${t.at.path}/driver`, message: `driver '${subsys.driver.name}' cannot be used: only vfio passthrough supports failover` });
  }
  return out;
}
