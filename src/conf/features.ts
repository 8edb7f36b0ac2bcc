// <features>: hypervisor features as generic on/off elements
// (virDomainFeaturesDefParse / virDomainDefFormatFeatures). Each feature
// keeps its state, its known attributes and sub-features (hyperv, kvm, xen,
// capabilities); libvirt writes them in its own table order, whatever the
// input order. Unknown feature names are kept (validation reports them).
import { ConfigUnsupportedError, XmlError } from '../util/errors.js';
import type { ElementReader, Extra, XmlWriter } from '../util/xml.js';
import { attrsOf } from './children.js';
import type { OnOff } from './common.js';
import { propEnum, propOnOff, propUInt, propYesNo } from './props.js';

/** libvirt's feature table, in format order. */
export const FEATURE_NAMES = [
  'acpi', 'apic', 'pae', 'hap', 'viridian', 'privnet', 'hyperv', 'kvm', 'pvspinlock', 'capabilities', 'pmu', 'vmport',
  'gic', 'smm', 'ioapic', 'hpt', 'vmcoreinfo', 'htm', 'nested-hv', 'msrs', 'ccf-assist', 'xen', 'cfpc', 'sbbc', 'ibs',
  'tcg', 'async-teardown', 'ras', 'ps2', 'aia',
] as const;
export type FeatureName = (typeof FEATURE_NAMES)[number];

export const HYPERV_FEATURES = [
  'relaxed', 'vapic', 'spinlocks', 'vpindex', 'runtime', 'synic', 'stimer', 'reset', 'vendor_id', 'frequencies',
  'reenlightenment', 'tlbflush', 'ipi', 'evmcs', 'avic', 'emsr_bitmap', 'xmm_input',
] as const;
export const KVM_FEATURES = ['hidden', 'hint-dedicated', 'poll-control', 'pv-ipi', 'dirty-ring'] as const;
export const XEN_FEATURES = ['e820_host', 'passthrough'] as const;
export const PROCESS_CAPS = [
  'audit_control', 'audit_write', 'block_suspend', 'chown', 'dac_override', 'dac_read_search', 'fowner', 'fsetid',
  'ipc_lock', 'ipc_owner', 'kill', 'lease', 'linux_immutable', 'mac_admin', 'mac_override', 'mknod', 'net_admin',
  'net_bind_service', 'net_broadcast', 'net_raw', 'setgid', 'setfcap', 'setpcap', 'setuid', 'sys_admin', 'sys_boot',
  'sys_chroot', 'sys_module', 'sys_nice', 'sys_pacct', 'sys_ptrace', 'sys_rawio', 'sys_resource', 'sys_time',
  'sys_tty_config', 'syslog', 'wake_alarm',
] as const;

/** One feature element: `<name state='on|off' attr='..'>sub-features</name>`. */
export interface Feature {
  name: string;
  /** on/off; libvirt's default applied (e.g. <vmport/> reads as on) */
  state?: OnOff;
  /** Other attributes libvirt reads for this element (eoi, mode, driver, value, policy, version, resizing, unknown, enabled, retries, size). */
  attrs: Record<string, string>;
  /** hyperv/kvm/xen/capabilities sub-features; stimer/tlbflush <direct>/<extended> */
  children: Feature[];
  /** smm <tseg> in bytes, hpt <maxpagesize> and tcg <tb-cache> in KiB */
  size?: number;
  extra?: Extra;
}

export interface Features {
  /** In document order; formatting puts them in FEATURE_NAMES order. */
  items: Feature[];
  extra?: Extra;
}

export function getFeature(f: Features | undefined, name: string): Feature | undefined {
  return f?.items.find((x) => x.name === name);
}

/** Whether a feature is present and not switched off (e.g. featureEnabled(dom.features, 'acpi')). */
export function featureEnabled(f: Features | undefined, name: string): boolean {
  const x = getFeature(f, name);
  return x !== undefined && x.state !== 'off';
}

/** Add or replace a feature (post-parse defaults such as acpi). */
export function setFeature(f: Features, feature: Feature): void {
  const i = f.items.findIndex((x) => x.name === feature.name);
  if (i >= 0) f.items[i] = feature;
  else f.items.push(feature);
}

export function newFeature(name: string, state?: OnOff): Feature {
  const f: Feature = { name, attrs: {}, children: [] };
  if (state) f.state = state;
  return f;
}

function keepRest(f: Feature, r: ElementReader): Feature {
  const extra = r.rest();
  if (extra) f.extra = extra;
  return f;
}

function parseSub(r: ElementReader, table: readonly string[], what: string, stateDefault?: OnOff): Feature {
  if (!table.includes(r.name)) throw new ConfigUnsupportedError(`${what}${r.name}`);
  const f = newFeature(r.name, propOnOff(r, 'state', { required: stateDefault === undefined }) ?? stateDefault);
  return f;
}

function parseHyperv(r: ElementReader, f: Feature): void {
  f.attrs.mode = propEnum(r, 'mode', ['none', 'custom', 'passthrough'] as const, { nonzero: true }) ?? 'custom';
  for (const c of r.el.children) {
    const cr = r.children(c.name).find((x) => x.el === c)!;
    const sub = parseSub(cr, HYPERV_FEATURES, 'unsupported HyperV Enlightenment feature: ');
    if (sub.state === 'on') {
      if (sub.name === 'spinlocks') {
        const retries = propUInt(cr, 'retries', { base: 0, required: true })!;
        if (retries < 0xfff) throw new XmlError('HyperV spinlock retry count must be at least 4095');
        sub.attrs.retries = String(retries);
      } else if (sub.name === 'vendor_id') {
        const value = cr.attr('value');
        if (value === undefined) throw new XmlError("missing 'value' attribute for HyperV feature 'vendor_id'");
        if (value.length > 12) throw new XmlError('HyperV vendor_id value must not be more than 12 characters.');
        if (value.includes(',')) throw new XmlError('HyperV vendor_id value is invalid');
        sub.attrs.value = value;
      } else if (sub.name === 'stimer' || sub.name === 'tlbflush') {
        const allowed = sub.name === 'stimer' ? ['direct'] : ['direct', 'extended'];
        for (const d of cr.el.children) {
          if (!allowed.includes(d.name)) {
            throw new ConfigUnsupportedError(`unsupported Hyper-V ${sub.name} feature: ${d.name}`);
          }
          const dr = cr.children(d.name).find((x) => x.el === d)!;
          sub.children.push(keepRest(newFeature(d.name, propOnOff(dr, 'state', { required: true })), dr));
        }
      }
    }
    f.children = f.children.filter((x) => x.name !== sub.name);
    f.children.push(keepRest(sub, cr));
  }
}

function parseList(r: ElementReader, f: Feature, table: readonly string[], what: string, stateDefault?: OnOff): void {
  for (const c of r.el.children) {
    const cr = r.children(c.name).find((x) => x.el === c)!;
    const sub = parseSub(cr, table, what, stateDefault);
    if (f.name === 'kvm' && sub.name === 'dirty-ring' && sub.state === 'on') {
      const size = propUInt(cr, 'size', { base: 0, required: true })!;
      if ((size & (size - 1)) !== 0 || size < 1024 || size > 65536) {
        throw new XmlError('dirty ring must be power of 2 and ranges [1024, 65536]');
      }
      sub.attrs.size = String(size);
    }
    if (f.name === 'xen' && sub.name === 'passthrough' && sub.state === 'on') {
      const mode = propEnum(cr, 'mode', ['default', 'sync_pt', 'share_pt'] as const, { nonzero: true });
      if (mode) sub.attrs.mode = mode;
    }
    f.children = f.children.filter((x) => x.name !== sub.name);
    f.children.push(keepRest(sub, cr));
  }
}

const BYTE_UNITS: Record<string, number> = {
  b: 1, bytes: 1, kb: 1e3, k: 1024, kib: 1024, mb: 1e6, m: 1024 ** 2, mib: 1024 ** 2, gb: 1e9, g: 1024 ** 3,
  gib: 1024 ** 3, tb: 1e12, t: 1024 ** 4, tib: 1024 ** 4, pb: 1e15, p: 1024 ** 5, pib: 1024 ** 5,
};

/** A scaled size child (<tseg unit='MiB'>, <maxpagesize unit=..>, <tb-cache unit=..>) in bytes (virParseScaledValue). */
function sizeBytes(r: ElementReader, child: string, defaultUnit: string): number | undefined {
  const c = r.child(child);
  if (!c || c.text() === '') return undefined;
  const unit = c.attr('unit');
  const factor = BYTE_UNITS[(unit ?? defaultUnit).toLowerCase()];
  if (factor === undefined) throw new XmlError(`unknown suffix '${unit}'`);
  if (!/^\s*[0-9]+$/.test(c.text())) throw new XmlError(`could not parse element ${child}`);
  return Number(c.text().trim()) * factor;
}

/** One element of <features>, with libvirt's per-feature parsing and defaults. */
function parseFeature(r: ElementReader): Feature {
  const f = newFeature(r.name);
  switch (r.name) {
    case 'acpi':
    case 'pae':
    case 'viridian':
    case 'privnet':
      f.state = 'on';
      break;
    case 'apic': {
      const eoi = propOnOff(r, 'eoi');
      if (eoi) f.attrs.eoi = eoi;
      f.state = 'on';
      break;
    }
    case 'msrs':
      f.attrs.unknown = propEnum(r, 'unknown', ['ignore', 'fault'] as const, { required: true })!;
      f.state = 'on';
      break;
    case 'hyperv':
      parseHyperv(r, f);
      break;
    case 'kvm':
      f.state = 'on';
      parseList(r, f, KVM_FEATURES, 'unsupported KVM feature: ');
      break;
    case 'xen':
      f.state = 'on';
      parseList(r, f, XEN_FEATURES, 'unsupported Xen feature: ');
      break;
    case 'capabilities':
      f.attrs.policy = propEnum(r, 'policy', ['default', 'allow', 'deny'] as const) ?? 'default';
      parseList(r, f, PROCESS_CAPS, 'unexpected capability feature ', 'on');
      break;
    case 'vmcoreinfo':
    case 'hap':
    case 'pmu':
    case 'pvspinlock':
    case 'vmport':
      f.state = propOnOff(r, 'state') ?? 'on';
      break;
    case 'smm':
      f.state = propOnOff(r, 'state') ?? 'on';
      if (f.state === 'on') f.size = sizeBytes(r, 'tseg', 'MiB');
      break;
    case 'gic': {
      const version = propEnum(r, 'version', ['none', 'host', '2', '3'] as const, { nonzero: true });
      if (version) f.attrs.version = version;
      f.state = 'on';
      break;
    }
    case 'ioapic':
    case 'cfpc':
    case 'sbbc':
    case 'ibs':
    case 'aia': {
      const attr = r.name === 'ioapic' ? 'driver' : 'value';
      const tables: Record<string, readonly string[]> = {
        ioapic: ['none', 'qemu', 'kvm'],
        cfpc: ['none', 'broken', 'workaround', 'fixed'],
        sbbc: ['none', 'broken', 'workaround', 'fixed'],
        ibs: ['none', 'broken', 'workaround', 'fixed-ibs', 'fixed-ccd', 'fixed-na'],
        aia: ['none', 'aplic', 'aplic-imsic'],
      };
      const v = propEnum(r, attr, tables[r.name], { nonzero: true });
      if (v) f.attrs[attr] = v;
      break;
    }
    case 'hpt': {
      const resizing = propEnum(r, 'resizing', ['none', 'enabled', 'disabled', 'required'] as const, { nonzero: true });
      if (resizing) f.attrs.resizing = resizing;
      const bytes = sizeBytes(r, 'maxpagesize', 'KiB');
      if (bytes) f.size = Math.ceil(bytes / 1024);
      if (resizing || f.size) f.state = 'on';
      break;
    }
    case 'htm':
    case 'nested-hv':
    case 'ccf-assist':
    case 'ras':
    case 'ps2':
      f.state = propOnOff(r, 'state', { required: true });
      break;
    case 'tcg': {
      const bytes = sizeBytes(r, 'tb-cache', 'KiB');
      if (bytes) {
        f.size = Math.ceil(bytes / 1024);
        f.state = 'on';
      }
      break;
    }
    case 'async-teardown': {
      const enabled = propYesNo(r, 'enabled') ?? 'yes';
      f.attrs.enabled = enabled;
      f.state = enabled === 'yes' ? 'on' : 'off';
      break;
    }
    default:
      break; // unknown: kept as written, reported by validateFeatures
  }
  return keepRest(f, r);
}

/** virDomainFeaturesDefParse: a later element of the same name replaces an earlier one. */
export function parseFeatures(r: ElementReader): Features {
  const features: Features = { items: [] };
  for (const c of r.el.children) {
    const cr = r.children(c.name).find((x) => x.el === c)!;
    setFeature(features, parseFeature(cr));
  }
  const extra = r.rest();
  if (extra) features.extra = extra;
  return features;
}

/** virFormatIntPretty: the largest binary unit that divides the byte count. */
export function prettySize(bytes: number): [number, string] {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = bytes;
  let i = 0;
  if (v === 0) return [0, 'B'];
  while (i < units.length - 1 && v % 1024 === 0) {
    v /= 1024;
    i++;
  }
  return [v, units[i]];
}

function formatSubList(w: XmlWriter, f: Feature, table: readonly string[]): void {
  for (const name of table) {
    const s = f.children.find((x) => x.name === name);
    if (!s || !s.state) continue;
    const attrs: [string, string | undefined][] = [['state', s.state]];
    if (s.state === 'on' && s.attrs.size !== undefined) attrs.push(['size', s.attrs.size]);
    if (s.state === 'on' && s.attrs.mode !== undefined) attrs.push(['mode', s.attrs.mode]);
    w.empty(name, attrs, s.extra);
  }
}

function formatHyperv(w: XmlWriter, f: Feature): void {
  w.open('hyperv', [['mode', f.attrs.mode ?? 'custom']], attrsOf(f.extra));
  for (const name of HYPERV_FEATURES) {
    const s = f.children.find((x) => x.name === name);
    if (!s?.state) continue;
    const attrs: [string, string | undefined][] = [['state', s.state]];
    if (s.state === 'on' && name === 'spinlocks') attrs.push(['retries', s.attrs.retries]);
    if (s.state === 'on' && name === 'vendor_id') attrs.push(['value', s.attrs.value]);
    const subs = s.state === 'on' ? s.children.filter((d) => d.state && !(name === 'stimer' && d.state !== 'on')) : [];
    w.element(name, attrs, () => {
      for (const d of ['direct', 'extended']) {
        const x = subs.find((y) => y.name === d);
        if (x) w.empty(d, [['state', x.state]], x.extra);
      }
      w.extraChildren(s.extra);
    }, attrsOf(s.extra));
  }
  w.extraChildren(f.extra);
  w.close('hyperv');
}

function formatOne(w: XmlWriter, f: Feature): void {
  const x = f.extra;
  switch (f.name) {
    case 'acpi':
    case 'pae':
    case 'viridian':
    case 'privnet':
      if (f.state === 'on') w.empty(f.name, [], x);
      break;
    case 'vmcoreinfo':
    case 'hap':
    case 'pmu':
    case 'pvspinlock':
    case 'vmport':
    case 'htm':
    case 'nested-hv':
    case 'ccf-assist':
    case 'ras':
    case 'ps2':
      if (f.state) w.empty(f.name, [['state', f.state]], x);
      break;
    case 'smm':
      if (!f.state) break;
      w.element('smm', [['state', f.state]], () => {
        if (f.state === 'on' && f.size !== undefined) {
          const [v, unit] = prettySize(f.size);
          w.textElement('tseg', v, [['unit', unit]]);
        }
        w.extraChildren(x);
      }, attrsOf(x));
      break;
    case 'apic':
    case 'gic':
      if (f.state === 'on') w.empty(f.name, [f.name === 'apic' ? ['eoi', f.attrs.eoi] : ['version', f.attrs.version]], x);
      break;
    case 'hyperv':
      if (f.attrs.mode && f.attrs.mode !== 'none') formatHyperv(w, f);
      break;
    case 'kvm':
    case 'xen':
      if (f.state !== 'on') break;
      w.open(f.name, [], attrsOf(x));
      formatSubList(w, f, f.name === 'kvm' ? KVM_FEATURES : XEN_FEATURES);
      w.extraChildren(x);
      w.close(f.name);
      break;
    case 'capabilities': {
      const hasCaps = f.children.some((c) => c.state);
      const policy = f.attrs.policy !== 'default' || hasCaps ? f.attrs.policy : undefined;
      w.elementIfAny('capabilities', [['policy', policy]], () => {
        formatSubList(w, f, PROCESS_CAPS);
        w.extraChildren(x);
      }, attrsOf(x));
      break;
    }
    case 'ioapic':
      if (f.attrs.driver) w.empty('ioapic', [['driver', f.attrs.driver]], x);
      break;
    case 'cfpc':
    case 'sbbc':
    case 'ibs':
    case 'aia':
      if (f.attrs.value) w.empty(f.name, [['value', f.attrs.value]], x);
      break;
    case 'hpt':
      if (f.state !== 'on') break;
      w.element('hpt', [['resizing', f.attrs.resizing]], () => {
        if (f.size) w.textElement('maxpagesize', f.size, [['unit', 'KiB']]);
        w.extraChildren(x);
      }, attrsOf(x));
      break;
    case 'msrs':
      if (f.state === 'on') w.empty('msrs', [['unknown', f.attrs.unknown]], x);
      break;
    case 'tcg':
      if (f.state === 'on' && f.size) {
        w.open('tcg', [], attrsOf(x));
        w.textElement('tb-cache', f.size, [['unit', 'KiB']]);
        w.extraChildren(x);
        w.close('tcg');
      }
      break;
    case 'async-teardown':
      w.empty('async-teardown', [['enabled', f.attrs.enabled]], x);
      break;
    default: {
      const attrs: [string, string | undefined][] = [['state', f.state], ...Object.entries(f.attrs)];
      w.element(f.name, attrs, () => w.extraChildren(x), attrsOf(x));
    }
  }
}

/** virDomainDefFormatFeatures: table order, then unknown features as read; nothing when empty. */
export function formatFeatures(w: XmlWriter, f: Features | undefined): void {
  if (!f) return;
  w.elementIfAny('features', [], () => {
    for (const name of FEATURE_NAMES) {
      const item = f.items.find((x) => x.name === name);
      if (item) formatOne(w, item);
    }
    for (const item of f.items) if (!(FEATURE_NAMES as readonly string[]).includes(item.name)) formatOne(w, item);
    w.extraChildren(f.extra);
  }, attrsOf(f.extra));
}

/** The parse-time refusal libvirt gives for names outside its table (CONFIG_UNSUPPORTED). */
export function validateFeatures(f: Features | undefined): void {
  for (const item of f?.items ?? []) {
    if (!(FEATURE_NAMES as readonly string[]).includes(item.name)) throw new ConfigUnsupportedError(`unexpected feature '${item.name}'`);
  }
}
