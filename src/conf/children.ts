// Child ordering shared by the element formatters: typed children are written
// in libvirt's order, and children we keep verbatim (Extra) are slotted in at
// their canonical place when libvirt knows the name, or appended at the end.
import type { Extra, XmlElement, XmlWriter } from '../util/xml.js';

export type ChildWriters = Partial<Record<string, () => void>>;

/** Only the attributes of an Extra (its children are placed by orderedChildren). */
export function attrsOf(extra: Extra | undefined): Extra | undefined {
  return extra && extra.attrs.length > 0 ? { attrs: extra.attrs, children: [] } : undefined;
}

/** Write the children: for each name in `order`, the typed writer then kept children of that name. */
export function orderedChildren(w: XmlWriter, order: readonly string[], typed: ChildWriters, extra: Extra | undefined): void {
  const known = new Map<string, XmlElement[]>();
  const unknown: XmlElement[] = [];
  for (const c of extra?.children ?? []) {
    if (order.includes(c.name)) {
      const list = known.get(c.name) ?? [];
      list.push(c);
      known.set(c.name, list);
    } else {
      unknown.push(c);
    }
  }
  for (const name of order) {
    typed[name]?.();
    for (const c of known.get(name) ?? []) w.raw(c);
  }
  for (const c of unknown) w.raw(c);
}
