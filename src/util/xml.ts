// A small XML layer: a strict reader (saxes) producing an element tree with
// positions, a tracking accessor that tells what a typed parser did not use,
// and a writer that formats the way libvirt's virBuffer code does.
import { SaxesParser } from 'saxes';
import { XmlError } from './errors.js';

export interface XmlElement {
  name: string;
  /** Attributes in document order. */
  attrs: Map<string, string>;
  children: XmlElement[];
  /** Character data directly inside this element (all text nodes joined). */
  text: string;
  line: number;
  column: number;
}

/** Limits chosen like virsh (10 MiB per XML file) and libxml2 (256 levels). */
export const XML_MAX_BYTES = 10 * 1024 * 1024;
export const XML_MAX_DEPTH = 256;

export interface ParseXmlOptions {
  /** Name shown in error messages, e.g. the file name. */
  source?: string;
}

/** Decode bytes as UTF-8, refusing anything else (libvirt only reads UTF-8). */
export function decodeXmlBytes(bytes: Uint8Array, source = 'input'): string {
  if (bytes.length > XML_MAX_BYTES) {
    throw new XmlError(`${source}: document is larger than ${XML_MAX_BYTES} bytes`);
  }
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) {
    throw new XmlError(`${source}: UTF-16 documents are not supported, use UTF-8`);
  }
  try {
    const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
    return text;
  } catch {
    throw new XmlError(`${source}: document is not valid UTF-8`);
  }
}

export function parseXml(input: string | Uint8Array, opts: ParseXmlOptions = {}): XmlElement {
  const source = opts.source ?? 'input';
  const text = typeof input === 'string' ? input : decodeXmlBytes(input, source);
  if (text.length > XML_MAX_BYTES) throw new XmlError(`${source}: document is larger than ${XML_MAX_BYTES} bytes`);
  if (text.trim() === '') throw new XmlError(`${source}: document is empty`);
  if (text.includes('\u0000')) throw new XmlError(`${source}: document contains a NUL character`);

  const parser = new SaxesParser({ xmlns: false, position: true });
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  const fail = (msg: string): never => {
    throw new XmlError(`${source}:${parser.line}:${parser.column}: ${msg}`, parser.line, parser.column);
  };

  parser.on('error', (e) => {
    // saxes prefixes its messages with "line:column: "; keep ours uniform.
    const msg = e.message.replace(/^\d+:\d+:\s*/, '');
    fail(msg);
  });
  parser.on('doctype', () => fail('DOCTYPE declarations are not allowed (no DTDs or entity definitions)'));
  parser.on('opentag', (node) => {
    if (stack.length >= XML_MAX_DEPTH) fail(`document nesting is deeper than ${XML_MAX_DEPTH} levels`);
    const el: XmlElement = {
      name: node.name,
      attrs: new Map(Object.entries(node.attributes as Record<string, string>)),
      children: [],
      text: '',
      line: parser.line,
      column: parser.column,
    };
    const parent = stack[stack.length - 1];
    if (parent) parent.children.push(el);
    else if (root) fail('extra content at the end of the document');
    else root = el;
    stack.push(el);
  });
  parser.on('closetag', () => {
    stack.pop();
  });
  const onText = (t: string) => {
    const cur = stack[stack.length - 1];
    if (cur) cur.text += t;
  };
  parser.on('text', onText);
  parser.on('cdata', onText);

  parser.write(text).close();
  if (!root) throw new XmlError(`${source}: document has no root element`);
  return root;
}

/**
 * Accessor that records which attributes and children a typed parser read,
 * so whatever it did not understand can be kept verbatim and reported.
 */
export class ElementReader {
  private readonly usedAttrs = new Set<string>();
  private readonly usedChildren = new Set<XmlElement>();
  constructor(readonly el: XmlElement) {}

  get name(): string {
    return this.el.name;
  }

  /** Attribute value; libvirt treats an empty attribute like a missing one in most places, so callers decide. */
  attr(name: string): string | undefined {
    this.usedAttrs.add(name);
    return this.el.attrs.get(name);
  }

  hasAttr(name: string): boolean {
    return this.el.attrs.has(name);
  }

  /** First child with this name (libvirt's XPath `./name[1]`); all same-named children count as read. */
  child(name: string): ElementReader | undefined {
    let first: XmlElement | undefined;
    for (const c of this.el.children) {
      if (c.name === name) {
        if (!first) first = c;
        this.usedChildren.add(c);
      }
    }
    return first ? new ElementReader(first) : undefined;
  }

  /** First child with this name; later same-named children stay unread (reported as extra). */
  firstChild(name: string): ElementReader | undefined {
    const c = this.el.children.find((x) => x.name === name);
    if (!c) return undefined;
    this.usedChildren.add(c);
    return new ElementReader(c);
  }

  children(name: string): ElementReader[] {
    const out: ElementReader[] = [];
    for (const c of this.el.children) {
      if (c.name === name) {
        this.usedChildren.add(c);
        out.push(new ElementReader(c));
      }
    }
    return out;
  }

  /** Mark a child as read without parsing it (e.g. a parent handles it). */
  markUsed(el: XmlElement): void {
    this.usedChildren.add(el);
  }

  text(): string {
    return this.el.text;
  }

  /** What was not read: kept verbatim by the formatter, reported by lint. */
  rest(): Extra | undefined {
    const attrs: [string, string][] = [];
    for (const [k, v] of this.el.attrs) if (!this.usedAttrs.has(k)) attrs.push([k, v]);
    const children = this.el.children.filter((c) => !this.usedChildren.has(c));
    if (attrs.length === 0 && children.length === 0) return undefined;
    return { attrs, children };
  }
}

/** XML we did not model, preserved as read. */
export interface Extra {
  attrs: [string, string][];
  children: XmlElement[];
}

export type AttrValue = string | number | undefined | null;
export type Attrs = Record<string, AttrValue> | [string, AttrValue][];

/** Escape like libvirt's virBufferEscapeString: five entities, drop other control chars. */
export function escapeXml(s: string): string {
  let out = '';
  for (const ch of s) {
    switch (ch) {
      case '<': out += '&lt;'; break;
      case '>': out += '&gt;'; break;
      case '&': out += '&amp;'; break;
      case '"': out += '&quot;'; break;
      case "'": out += '&apos;'; break;
      default: {
        const c = ch.codePointAt(0)!;
        if (c >= 0x20 || ch === '\n' || ch === '\t' || ch === '\r') out += ch;
      }
    }
  }
  return out;
}

/** libxml2's escaping when it serializes a node (xmlAttrSerializeTxtContent / text content). */
function libxmlEscape(s: string, attr: boolean): string {
  let out = '';
  for (const ch of s) {
    if (ch === '<') out += '&lt;';
    else if (ch === '>') out += '&gt;';
    else if (ch === '&') out += '&amp;';
    else if (ch === '\r') out += '&#13;';
    else if (attr && ch === '"') out += '&quot;';
    else if (attr && ch === '\n') out += '&#10;';
    else if (attr && ch === '\t') out += '&#9;';
    else out += ch;
  }
  return out;
}

function attrString(attrs: Attrs | undefined, extra?: Extra): string {
  let s = '';
  const entries = attrs === undefined ? [] : Array.isArray(attrs) ? attrs : Object.entries(attrs);
  for (const [k, v] of entries) {
    if (v === undefined || v === null) continue;
    s += ` ${k}='${escapeXml(String(v))}'`;
  }
  if (extra) for (const [k, v] of extra.attrs) s += ` ${k}='${escapeXml(v)}'`;
  return s;
}

/** An element and its subtree on one line, text as read (for mixed content). */
export function inlineXml(el: XmlElement): string {
  const open = `<${el.name}${attrString([...el.attrs])}`;
  if (el.children.length === 0 && el.text === '') return `${open}/>`;
  return `${open}>${escapeXml(el.text)}${el.children.map((c) => inlineXml(c)).join('')}</${el.name}>`;
}

/** Writer producing libvirt's layout: 2-space indent, single quotes, self-closing empty elements. */
export class XmlWriter {
  private readonly lines: string[] = [];
  private indent = 0;

  private push(line: string): void {
    this.lines.push(' '.repeat(this.indent) + line);
  }

  /** One line of already formatted XML at the current indentation (e.g. a libxml2-style dump). */
  line(text: string): void {
    this.push(text);
  }

  /** `<name attrs/>` */
  empty(name: string, attrs?: Attrs, extra?: Extra): void {
    if (extra && extra.children.length > 0) {
      this.open(name, attrs, extra);
      this.extraChildren(extra);
      this.close(name);
      return;
    }
    this.push(`<${name}${attrString(attrs, extra)}/>`);
  }

  open(name: string, attrs?: Attrs, extra?: Extra): void {
    this.push(`<${name}${attrString(attrs, extra)}>`);
    this.indent += 2;
  }

  close(name: string): void {
    this.indent -= 2;
    this.push(`</${name}>`);
  }

  /** `<name attrs>text</name>`; skipped when text is undefined. */
  textElement(name: string, text: string | number | undefined, attrs?: Attrs, extra?: Extra): void {
    if (text === undefined) return;
    if (extra && extra.children.length > 0) {
      // Mixed content we do not model: keep it on one line, children after the text, so
      // re-reading gives back exactly this text (indentation would become part of it).
      const kids = extra.children.map((c) => inlineXml(c)).join('');
      this.push(`<${name}${attrString(attrs, extra)}>${escapeXml(String(text))}${kids}</${name}>`);
      return;
    }
    this.push(`<${name}${attrString(attrs, extra)}>${escapeXml(String(text))}</${name}>`);
  }

  /**
   * `<name attrs>` + body + `</name>`, or `<name attrs/>` when the body wrote
   * nothing (libvirt's virXMLFormatElement with child buffer).
   */
  element(name: string, attrs: Attrs | undefined, body: () => void, extra?: Extra): void {
    const mark = this.lines.length;
    this.indent += 2;
    body();
    if (extra) this.extraChildren(extra);
    this.indent -= 2;
    if (this.lines.length === mark) {
      this.push(`<${name}${attrString(attrs, extra)}/>`);
      return;
    }
    this.lines.splice(mark, 0, ' '.repeat(this.indent) + `<${name}${attrString(attrs, extra)}>`);
    this.push(`</${name}>`);
  }

  /**
   * Like element(), but writes nothing at all when there are no attributes
   * and the body wrote nothing (libvirt's virXMLFormatElement with both
   * buffers empty).
   */
  elementIfAny(name: string, attrs: Attrs | undefined, body: () => void, extra?: Extra): void {
    const mark = this.lines.length;
    this.element(name, attrs, body, extra);
    if (this.lines.length === mark + 1 && attrString(attrs, extra) === '' && this.lines[mark].trimStart() === `<${name}/>`) {
      this.lines.length = mark;
    }
  }

  /** Write an element we did not model, as read (canonical layout). */
  raw(el: XmlElement): void {
    const attrs: [string, string][] = [...el.attrs];
    const text = el.children.length === 0 ? el.text : el.text.trim();
    if (el.children.length === 0) {
      if (text === '') this.push(`<${el.name}${attrString(attrs)}/>`);
      else this.push(`<${el.name}${attrString(attrs)}>${escapeXml(text)}</${el.name}>`);
      return;
    }
    this.push(`<${el.name}${attrString(attrs)}>${text ? escapeXml(text) : ''}`);
    this.indent += 2;
    for (const c of el.children) this.raw(c);
    this.close(el.name);
  }

  /**
   * An element libvirt hands to libxml to print (the children of <metadata>): double
   * quotes and libxml's escaping, attributes in the order read.
   */
  rawLibxml(el: XmlElement): void {
    const attrs = [...el.attrs].map(([k, v]) => ` ${k}="${libxmlEscape(v, true)}"`).join('');
    const text = el.children.length === 0 ? el.text : el.text.trim();
    if (el.children.length === 0) {
      this.push(text === '' ? `<${el.name}${attrs}/>` : `<${el.name}${attrs}>${libxmlEscape(text, false)}</${el.name}>`);
      return;
    }
    this.push(`<${el.name}${attrs}>${text ? libxmlEscape(text, false) : ''}`);
    this.indent += 2;
    for (const c of el.children) this.rawLibxml(c);
    this.close(el.name);
  }

  extraChildren(extra: Extra | undefined): void {
    if (extra) for (const c of extra.children) this.raw(c);
  }

  toString(): string {
    return this.lines.length === 0 ? '' : this.lines.join('\n') + '\n';
  }
}
