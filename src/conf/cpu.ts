// <cpu mode='custom' match='exact' check='none'><model fallback='forbid'>qemu64</model></cpu>:
// the guest CPU (libvirt's virCPUDef, guest type). <numa> is kept as written,
// at its position (last).
import { ConfigUnsupportedError, InternalError, XmlError } from '../util/errors.js';
import type { ElementReader, Extra, XmlWriter } from '../util/xml.js';
import { attrsOf, orderedChildren } from './children.js';
import type { OnOff } from './common.js';
import { propEnum, propInt, propOnOff, propUInt } from './props.js';

/** The characters of a CPU feature name (libvirt's cputypes schema, featureName). */
const CPU_FEATURE_NAME_RE = /^[A-Za-z0-9_.-]+$/;

export const CPU_MODES = ['custom', 'host-model', 'host-passthrough', 'maximum'] as const;
export type CpuMode = (typeof CPU_MODES)[number];
export const CPU_MATCHES = ['exact', 'minimum', 'strict'] as const;
export type CpuMatch = (typeof CPU_MATCHES)[number];
export const CPU_CHECKS = ['default', 'none', 'partial', 'full'] as const;
export type CpuCheck = Exclude<(typeof CPU_CHECKS)[number], 'default'>;
export const CPU_FALLBACKS = ['allow', 'forbid'] as const;
export type CpuFallback = (typeof CPU_FALLBACKS)[number];
export const CPU_FEATURE_POLICIES = ['force', 'require', 'optional', 'disable', 'forbid'] as const;
export type CpuFeaturePolicy = (typeof CPU_FEATURE_POLICIES)[number];
export const CPU_CACHE_MODES = ['emulate', 'passthrough', 'disable'] as const;
export const CPU_MAXPHYSADDR_MODES = ['emulate', 'passthrough'] as const;

export interface CpuTopology {
  sockets: number;
  dies: number;
  clusters: number;
  cores: number;
  threads: number;
  extra?: Extra;
}

export interface Cpu {
  mode: CpuMode;
  /** written for mode='custom' ('exact' when absent) */
  match?: CpuMatch;
  check?: CpuCheck;
  /** host-passthrough / maximum only */
  migratable?: OnOff;
  /** <model>name</model> */
  model?: string;
  /** libvirt writes fallback='allow' when absent */
  fallback?: CpuFallback;
  vendor_id?: string;
  modelExtra?: Extra;
  vendor?: string;
  topology?: CpuTopology;
  cache?: { level?: number; mode: string; extra?: Extra };
  maxphysaddr?: { mode: string; bits?: number; limit?: number; extra?: Extra };
  features: { name: string; policy: CpuFeaturePolicy; extra?: Extra }[];
  /** <numa> and unknown children/attributes, as written */
  extra?: Extra;
}

export function newCpu(mode: CpuMode = 'custom'): Cpu {
  return { mode, features: [] };
}

const PASSTHROUGHISH = new Set<CpuMode>(['host-passthrough', 'maximum']);

/** virCPUDefParseXML for a guest CPU */
export function parseCpu(r: ElementReader): Cpu {
  const modeRaw = r.attr('mode');
  let mode: CpuMode = 'custom';
  if (modeRaw !== undefined) {
    if (!(CPU_MODES as readonly string[]).includes(modeRaw)) throw new ConfigUnsupportedError(`Invalid mode attribute '${modeRaw}'`);
    mode = modeRaw as CpuMode;
  }
  const cpu: Cpu = { mode, features: [] };
  const migratable = propOnOff(r, 'migratable');
  if (migratable) {
    if (!PASSTHROUGHISH.has(mode)) {
      throw new ConfigUnsupportedError("Attribute migratable is only allowed for 'host-passthrough' / 'maximum' CPU mode");
    }
    cpu.migratable = migratable;
  }
  const match = propEnum(r, 'match', CPU_MATCHES);
  if (match) cpu.match = match;
  const check = propEnum(r, 'check', CPU_CHECKS);
  if (check && check !== 'default') cpu.check = check;

  const model = r.firstChild('model');
  if (model && model.text() !== '') cpu.model = model.text();
  if (model && !PASSTHROUGHISH.has(mode)) {
    const fallback = model.attr('fallback');
    if (fallback) {
      if (!(CPU_FALLBACKS as readonly string[]).includes(fallback)) throw new ConfigUnsupportedError('Invalid fallback attribute');
      cpu.fallback = fallback as CpuFallback;
    }
    const vendorId = model.attr('vendor_id');
    if (vendorId) {
      if (vendorId.length !== 12) throw new XmlError('vendor_id must be exactly 12 characters long');
      if (vendorId.includes(',')) throw new XmlError('vendor id is invalid');
      cpu.vendor_id = vendorId;
    }
  }
  const modelExtra = model?.rest();
  if (modelExtra) cpu.modelExtra = modelExtra;

  const vendor = r.firstChild('vendor')?.text();
  if (vendor) {
    if (cpu.model === undefined) throw new XmlError('CPU vendor specified without CPU model');
    cpu.vendor = vendor;
  }
  const topology = r.firstChild('topology');
  if (topology) {
    cpu.topology = {
      sockets: propUInt(topology, 'sockets', { required: true, nonzero: true })!,
      dies: propUInt(topology, 'dies', { nonzero: true }) ?? 1,
      clusters: propUInt(topology, 'clusters', { nonzero: true }) ?? 1,
      cores: propUInt(topology, 'cores', { required: true, nonzero: true })!,
      threads: propUInt(topology, 'threads', { required: true, nonzero: true })!,
    };
    const extra = topology.rest();
    if (extra) cpu.topology.extra = extra;
  }
  const features = r.children('feature');
  if (features.length > 0 && cpu.model === undefined && mode === 'custom') {
    throw new XmlError('Non-empty feature list specified without CPU model');
  }
  for (const f of features) {
    const policyRaw = f.attr('policy');
    if (policyRaw !== undefined && !(CPU_FEATURE_POLICIES as readonly string[]).includes(policyRaw)) {
      throw new ConfigUnsupportedError('Invalid CPU feature policy');
    }
    const name = f.attr('name');
    if (!name) throw new XmlError('Invalid CPU feature name');
    // libvirt's CPU map knows only names of this form (its schema's featureName); a name reaches
    // -cpu MODEL,NAME=on, so anything else is refused as the CPU driver does.
    if (!CPU_FEATURE_NAME_RE.test(name)) throw new InternalError(`unknown CPU feature ${name}`);
    if (cpu.features.some((x) => x.name === name)) throw new XmlError(`CPU feature '${name}' specified more than once`);
    const feature: Cpu['features'][number] = { name, policy: (policyRaw ?? 'require') as CpuFeaturePolicy };
    const extra = f.rest();
    if (extra) feature.extra = extra;
    cpu.features.push(feature);
  }
  const caches = r.children('cache');
  if (caches.length > 1) throw new XmlError('at most one CPU cache element may be specified');
  if (caches[0]) {
    const level = propInt(caches[0], 'level', { nonnegative: true });
    if (level !== undefined && (level < 1 || level > 3)) throw new XmlError('invalid CPU cache level, must be in range [1,3]');
    cpu.cache = { mode: propEnum(caches[0], 'mode', CPU_CACHE_MODES, { required: true })! };
    if (level !== undefined) cpu.cache.level = level;
    const extra = caches[0].rest();
    if (extra) cpu.cache.extra = extra;
  }
  const addr = r.firstChild('maxphysaddr');
  if (addr) {
    cpu.maxphysaddr = { mode: propEnum(addr, 'mode', CPU_MAXPHYSADDR_MODES, { required: true })! };
    const bits = propInt(addr, 'bits', { nonnegative: true });
    if (bits !== undefined) cpu.maxphysaddr.bits = bits;
    const limit = propUInt(addr, 'limit', { nonzero: true });
    if (limit !== undefined) {
      if (cpu.maxphysaddr.mode !== 'passthrough') {
        throw new ConfigUnsupportedError("attribute 'limit' is only supported for maxphysaddr mode 'passthrough'");
      }
      cpu.maxphysaddr.limit = limit;
    }
    const extra = addr.rest();
    if (extra) cpu.maxphysaddr.extra = extra;
  }
  const extra = r.rest();
  if (extra) cpu.extra = extra;
  return cpu;
}

const CPU_CHILD_ORDER = ['model', 'vendor', 'topology', 'cache', 'maxphysaddr', 'feature', 'numa'] as const;

/** virCPUDefFormatBufFull for a guest CPU; nothing is written for an empty definition. */
export function formatCpu(w: XmlWriter, cpu: Cpu | undefined): void {
  if (!cpu) return;
  const attrs: [string, string | undefined][] = [];
  if (cpu.mode !== 'custom' || cpu.model !== undefined) {
    attrs.push(['mode', cpu.mode]);
    if (cpu.mode === 'custom') attrs.push(['match', cpu.match ?? 'exact']);
    attrs.push(['check', cpu.check]);
    if (PASSTHROUGHISH.has(cpu.mode)) attrs.push(['migratable', cpu.migratable]);
  }
  const formatModel = cpu.mode === 'custom' || cpu.mode === 'host-model';
  w.elementIfAny('cpu', attrs, () => orderedChildren(w, CPU_CHILD_ORDER, {
    model: () => {
      if (!formatModel || (cpu.model === undefined && cpu.vendor_id === undefined)) return;
      const a: [string, string | undefined][] = [
        ['fallback', cpu.model !== undefined ? cpu.fallback ?? 'allow' : undefined],
        ['vendor_id', cpu.vendor_id],
      ];
      if (cpu.model !== undefined) w.textElement('model', cpu.model, a, cpu.modelExtra);
      else w.empty('model', a, cpu.modelExtra);
    },
    vendor: () => formatModel && w.textElement('vendor', cpu.vendor),
    topology: () => {
      const t = cpu.topology;
      if (t) {
        w.empty('topology', [
          ['sockets', t.sockets], ['dies', t.dies], ['clusters', t.clusters], ['cores', t.cores], ['threads', t.threads],
        ], t.extra);
      }
    },
    cache: () => cpu.cache && w.empty('cache', [['level', cpu.cache.level], ['mode', cpu.cache.mode]], cpu.cache.extra),
    maxphysaddr: () => {
      const m = cpu.maxphysaddr;
      if (m) w.empty('maxphysaddr', [['mode', m.mode], ['bits', m.bits], ['limit', m.limit]], m.extra);
    },
    feature: () => cpu.features.forEach((f) => w.empty('feature', [['policy', f.policy], ['name', f.name]], f.extra)),
  }, cpu.extra), attrsOf(cpu.extra));
}
