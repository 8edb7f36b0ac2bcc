// `pair`: generate a correct failover pair — a virtio standby with a user
// alias and persistent teaming, and a VF primary (transient teaming naming
// that alias) with the same MAC — alone or added to an existing domain.
import { randomBytes } from 'node:crypto';
import { InvalidArgError } from '../util/errors.js';
import { escapeXml, parseXml, type XmlElement } from '../util/xml.js';
import { parseDomain, formatDomain, type Domain } from '../conf/domain.js';
import { parseMacAddress } from '../conf/interface-util.js';
import { isUserAlias } from '../conf/device-info.js';
import { deviceInfoOf } from '../conf/validate.js';

export interface PairOptions {
  /** Host PCI address of the VF, e.g. 0000:3b:02.1. */
  vf: string;
  mac?: string;
  /** The standby's user alias (default ua-failoverN, the first free N). */
  alias?: string;
  /** Standby backend: 'user', 'network:NAME' or 'bridge:NAME' (default 'network:default'). */
  standby?: string;
  /** Use a plain <hostdev> primary (its MAC must then be set on the VF via the PF). */
  plainHostdev?: boolean;
  /** Random source for the MAC (tests). */
  random?: (n: number) => Uint8Array;
}

const PCI_RE = /^(?:([0-9a-f]{1,4}):)?([0-9a-f]{1,2}):([0-9a-f]{1,2})\.([0-7])$/i;

function hostAddress(vf: string): string {
  const m = PCI_RE.exec(vf.trim());
  if (!m) throw new InvalidArgError(`'${vf}' is not a PCI address (DDDD:BB:SS.F)`);
  const [, d = '0', b, s, f] = m;
  const hex = (v: string, w: number) => '0x' + parseInt(v, 16).toString(16).padStart(w, '0');
  if (parseInt(s!, 16) > 0x1f) throw new InvalidArgError(`PCI slot in '${vf}' is out of range`);
  return `domain='${hex(d, 4)}' bus='${hex(b!, 2)}' slot='${hex(s!, 2)}' function='${hex(f!, 1)}'`;
}

/** A locally administered unicast MAC in QEMU's 52:54:00 range. */
export function randomMac(random: (n: number) => Uint8Array = randomBytes): string {
  const b = random(3);
  return ['52', '54', '00', ...[...b].map((x) => x.toString(16).padStart(2, '0'))].join(':');
}

function standbySource(spec: string): { type: string; source: string } {
  if (spec === 'user') return { type: 'user', source: '' };
  const [kind, name] = [spec.slice(0, spec.indexOf(':')), spec.slice(spec.indexOf(':') + 1)];
  if (spec.includes(':') && name) {
    if (kind === 'network') return { type: 'network', source: `<source network='${escapeXml(name)}'/>` };
    if (kind === 'bridge') return { type: 'bridge', source: `<source bridge='${escapeXml(name)}'/>` };
  }
  throw new InvalidArgError(`unknown standby '${spec}': use 'user', 'network:NAME' or 'bridge:NAME'`);
}

/** The two device elements, as libvirt XML text. */
export function pairDevicesXml(opts: PairOptions & { alias: string; mac: string }): string {
  const { type, source } = standbySource(opts.standby ?? 'network:default');
  const mac = escapeXml(opts.mac);
  const alias = escapeXml(opts.alias);
  const standby =
    `<interface type='${type}'><mac address='${mac}'/>${source}<model type='virtio'/>` +
    `<teaming type='persistent'/><alias name='${alias}'/></interface>`;
  const host = `<address type='pci' ${hostAddress(opts.vf)}/>`;
  const primary = opts.plainHostdev
    ? `<hostdev mode='subsystem' type='pci' managed='yes'><source>${host.replace(" type='pci'", '')}</source>` +
      `<teaming type='transient' persistent='${alias}'/></hostdev>`
    : `<interface type='hostdev' managed='yes'><mac address='${mac}'/><source>${host}</source>` +
      `<teaming type='transient' persistent='${alias}'/></interface>`;
  return standby + primary;
}

function freeAlias(dom: Domain | undefined): string {
  const used = new Set((dom?.devices ?? []).map((d) => deviceInfoOf(d)?.alias).filter(Boolean));
  for (let n = 0; ; n++) if (!used.has(`ua-failover${n}`)) return `ua-failover${n}`;
}

/**
 * Adds the pair to `domainXml` (or to a minimal q35 domain named `name`) and
 * returns the canonical XML. The caller lints the result.
 */
export function addFailoverPair(domainXml: string | undefined, opts: PairOptions, name = 'failover-guest'): string {
  const root: XmlElement = parseXml(
    domainXml ??
      `<domain type='kvm'><name>${escapeXml(name)}</name><memory unit='MiB'>1024</memory><vcpu>2</vcpu>` +
        "<os><type arch='x86_64' machine='q35'>hvm</type></os><features><acpi/></features><devices/></domain>",
    { source: 'domain' },
  );
  const before = parseDomain(root, { inactive: true });
  const alias = opts.alias ?? freeAlias(before);
  if (!isUserAlias(alias)) throw new InvalidArgError(`alias '${alias}' must start with 'ua-' and use only letters, digits, '-' and '_' (libvirt drops other aliases)`);
  if (before.devices.some((d) => deviceInfoOf(d)?.alias === alias)) throw new InvalidArgError(`alias '${alias}' is already used in this domain`);
  const mac = opts.mac ? parseMacAddress(opts.mac) : randomMac(opts.random);
  const devices = parseXml(`<devices>${pairDevicesXml({ ...opts, alias, mac })}</devices>`, { source: 'pair' });
  let devEl = root.children.find((c) => c.name === 'devices');
  if (!devEl) {
    devEl = { name: 'devices', attrs: new Map(), children: [], text: '', line: 0, column: 0 };
    root.children.push(devEl);
  }
  devEl.children.push(...devices.children);
  return formatDomain(parseDomain(root, { inactive: true }));
}
