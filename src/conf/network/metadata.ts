// <metadata> (kept as read, written the way libxml2's xmlNodeDump does it: double-quoted attributes,
// namespace declarations first, 2 spaces per level) and the dnsmasq namespace's <dnsmasq:options>.
import { XmlError } from '../../util/errors.js';
import { type ElementReader, type XmlElement, type XmlWriter } from '../../util/xml.js';

export const DNSMASQ_NS = 'http://libvirt.org/schemas/network/dnsmasq/1.0';

function escapeText(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\r/g, '&#13;');
}

function escapeAttr(s: string): string {
  return escapeText(s).replace(/"/g, '&quot;').replace(/\n/g, '&#10;').replace(/\t/g, '&#9;');
}

function dump(el: XmlElement, indent: string, out: string[]): void {
  const ns = [...el.attrs].filter(([k]) => k === 'xmlns' || k.startsWith('xmlns:'));
  const other = [...el.attrs].filter(([k]) => !(k === 'xmlns' || k.startsWith('xmlns:')));
  const open = `<${el.name}${[...ns, ...other].map(([k, v]) => ` ${k}="${escapeAttr(v)}"`).join('')}`;
  const text = el.text.trim() === '' ? '' : el.text;
  if (el.children.length === 0) {
    out.push(indent + (text === '' ? `${open}/>` : `${open}>${escapeText(text)}</${el.name}>`));
    return;
  }
  if (text !== '') {
    // Mixed content: libxml2 does not re-indent it; keep it on one line.
    out.push(indent + `${open}>${escapeText(text)}${el.children.map((c) => inline(c)).join('')}</${el.name}>`);
    return;
  }
  out.push(indent + `${open}>`);
  for (const c of el.children) dump(c, indent + '  ', out);
  out.push(indent + `</${el.name}>`);
}

function inline(el: XmlElement): string {
  const lines: string[] = [];
  dump(el, '', lines);
  return lines.join('');
}

/** <metadata> as libvirt writes it, at the writer's current depth (`depth` levels of 2 spaces). */
export function formatMetadata(w: XmlWriter, m: XmlElement | undefined): void {
  if (!m || m.children.length === 0) return;
  w.open('metadata');
  for (const c of m.children) {
    const lines: string[] = [];
    dump(c, '', lines);
    for (const l of lines) w.line(l);
  }
  w.close('metadata');
}

/** The prefix the document binds to the dnsmasq namespace (declared on <network>). */
export function dnsmasqPrefix(root: XmlElement): string | undefined {
  for (const [k, v] of root.attrs) if (k.startsWith('xmlns:') && v === DNSMASQ_NS) return k.slice(6);
  return undefined;
}

/** <PREFIX:options><PREFIX:option value=.../></PREFIX:options>: dnsmasq command-line options. */
export function parseDnsmasqOptions(r: ElementReader, prefix: string | undefined): string[] | undefined {
  if (!prefix) return undefined;
  const opts = r.child(`${prefix}:options`);
  if (!opts) return undefined;
  return opts.children(`${prefix}:option`).map((o) => {
    const v = o.attr('value');
    if (v === undefined) throw new XmlError('No dnsmasq options value specified');
    return v;
  });
}

export function formatDnsmasqOptions(w: XmlWriter, options: string[] | undefined): void {
  if (!options || options.length === 0) return;
  w.open('dnsmasq:options');
  for (const v of options) w.empty('dnsmasq:option', [['value', v]]);
  w.close('dnsmasq:options');
}
