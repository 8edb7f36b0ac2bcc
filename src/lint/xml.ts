// Lint rules on the XML as written: what libvirt silently drops (so the
// model never sees it) and what we keep without understanding it.
import type { XmlElement } from '../util/xml.js';
import type { Extra } from '../util/xml.js';
import type { Domain } from '../conf/domain.js';
import { isUserAlias } from '../conf/device-info.js';
import { isRawDevice, type Device } from '../conf/devices.js';
import type { LintFinding, Located } from './finding.js';

const TEAMING_PARENTS = new Set(['/domain/devices/interface', '/domain/devices/hostdev']);
const TEAMING_ATTRS = new Set(['type', 'persistent']);
/** Kept verbatim in the model but read by the qemu layer (namespace.ts). */
const UNDERSTOOD_SECTIONS = new Set(['qemu:commandline']);

/** Walk with 1-based sibling positions, libvirt/XPath style. */
function walk(el: XmlElement, path: string, visit: (el: XmlElement, path: string, parent: string) => void, parentPath = ''): void {
  visit(el, path, parentPath);
  const counts = new Map<string, number>();
  for (const c of el.children) {
    const n = (counts.get(c.name) ?? 0) + 1;
    counts.set(c.name, n);
    // Same path shape as the model's: devices are indexed, other elements only when repeated.
    const indexed = path === '/domain/devices' || n > 1;
    walk(c, `${path}/${c.name}${indexed ? `[${n}]` : ''}`, visit, path);
  }
}

const stripIndexes = (p: string) => p.replace(/\[\d+\]/g, '');

export function lintRawXml(root: XmlElement): LintFinding[] {
  const out: LintFinding[] = [];
  walk(root, `/${root.name}`, (el, path, parent) => {
    if (el.name === 'teaming') {
      const at = { path, line: el.line };
      if (!TEAMING_PARENTS.has(stripIndexes(parent))) {
        out.push({ severity: 'warning', rule: 'teaming-misplaced', ...at, message: `libvirt ignores <teaming> inside ${stripIndexes(parent) || 'the document root'}: only <interface> and <hostdev> carry it` });
        return;
      }
      if (/\/teaming\[\d+\]$/.test(path)) {
        out.push({ severity: 'warning', rule: 'teaming-duplicate', ...at, message: 'a second <teaming> is silently dropped by libvirt' });
        return;
      }
      if (!el.attrs.get('type') && !el.attrs.get('persistent')) {
        out.push({ severity: 'warning', rule: 'teaming-ignored', ...at, message: "a <teaming> without type is silently ignored by libvirt: say type='persistent' or type='transient'" });
      }
      for (const name of el.attrs.keys()) {
        if (!TEAMING_ATTRS.has(name)) out.push({ severity: 'warning', rule: 'teaming-unknown-attribute', ...at, message: `libvirt ignores the attribute '${name}' of <teaming>` });
      }
      for (const c of el.children) out.push({ severity: 'warning', rule: 'teaming-unknown-child', path: `${path}/${c.name}`, line: c.line, message: `libvirt ignores <${c.name}> inside <teaming>` });
    } else if (el.name === 'alias' && stripIndexes(parent).startsWith('/domain/devices/')) {
      const name = el.attrs.get('name');
      if (name && !isUserAlias(name)) {
        out.push({ severity: 'warning', rule: 'alias-dropped', path, line: el.line, message: `libvirt drops the alias '${name}' from a definition: user aliases need the 'ua-' prefix and only letters, digits, '-' and '_'` });
      }
    }
  });
  return out;
}

/** <teaming> problems have rules of their own (lintRawXml), so they are not repeated here. */
function extraText(extra: Extra): string {
  const parts = [...extra.attrs.map(([k]) => `attribute '${k}'`), ...extra.children.filter((c) => c.name !== 'teaming').map((c) => `<${c.name}>`)];
  return parts.join(', ');
}

/** Everything the typed model holds as `extra` or `ignored`, and raw devices. */
export function lintNotUnderstood(dom: Domain, located: Located<Device>[]): LintFinding[] {
  const out: LintFinding[] = [];
  const visit = (value: unknown, path: string, depth: number): void => {
    if (depth > 12 || value === null || typeof value !== 'object') return;
    if (Array.isArray(value)) {
      value.forEach((v, i) => visit(v, path, depth + 1 + i * 0));
      return;
    }
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (k === 'teaming') continue;
      if (k === 'extra' || k.endsWith('Extra')) {
        const ex = v as Extra | undefined;
        if (ex && extraText(ex)) {
          out.push({ severity: 'warning', rule: 'not-understood', path, message: `not understood, kept verbatim: ${extraText(ex)}` });
        }
      } else if (k === 'ignored' && Array.isArray(v)) {
        for (const what of v) out.push({ severity: 'warning', rule: 'libvirt-ignores', path, message: `libvirt ignores ${String(what)} here and drops it` });
      } else if (k !== 'el') visit(v, path, depth + 1);
    }
  };
  for (const at of located) {
    if (isRawDevice(at.dev)) {
      out.push({ severity: 'warning', rule: 'not-understood', path: at.path, line: at.dev.el.line, message: `<${at.dev.el.name}> is not modelled by virt-failover: kept verbatim, not checked` });
    } else visit(at.dev, at.path, 0);
  }
  const { devices: _d, sections, ...top } = dom;
  visit(top, '/domain', 0);
  for (const [name, els] of sections) {
    if (UNDERSTOOD_SECTIONS.has(name)) continue;
    for (const el of els) out.push({ severity: 'warning', rule: 'not-understood', path: `/domain/${name}`, line: el.line, message: `<${name}> is not modelled by virt-failover: kept verbatim, not checked` });
  }
  return out;
}
