// The QEMU driver's XML namespace on <domain> (libvirt's xmlopt namespace): its elements are
// recognised by URI, whatever prefix the document uses (`qemu:`, `ns0:`, a default xmlns), and
// libvirt always writes them back as `qemu:` with the declaration on <domain>. Other namespace
// declarations on <domain> are not kept.
import type { XmlElement } from '../util/xml.js';

export const QEMU_NAMESPACE_URI = 'http://libvirt.org/schemas/domain/qemu/1.0';
export const QEMU_NAMESPACE_PREFIX = 'qemu';

type Scope = Map<string, string>;

/** The prefix -> URI map in force inside `el` ('' is the default namespace). */
function scopeOf(el: XmlElement, outer: Scope): Scope {
  let scope = outer;
  for (const [k, v] of el.attrs) {
    if (k !== 'xmlns' && !k.startsWith('xmlns:')) continue;
    if (scope === outer) scope = new Map(outer);
    scope.set(k === 'xmlns' ? '' : k.slice(6), v);
  }
  return scope;
}

function uriOf(name: string, scope: Scope): string | undefined {
  const i = name.indexOf(':');
  return scope.get(i < 0 ? '' : name.slice(0, i));
}

const localName = (name: string): string => name.slice(name.indexOf(':') + 1);

/** A QEMU-namespace subtree renamed to the `qemu:` prefix, its own declarations dropped. */
function toQemuPrefix(el: XmlElement, scope: Scope): XmlElement {
  const inner = scopeOf(el, scope);
  const attrs = new Map([...el.attrs].filter(([k]) => k !== 'xmlns' && !k.startsWith('xmlns:')));
  const name = uriOf(el.name, inner) === QEMU_NAMESPACE_URI ? `${QEMU_NAMESPACE_PREFIX}:${localName(el.name)}` : el.name;
  return { ...el, name, attrs, children: el.children.map((c) => toQemuPrefix(c, inner)) };
}

/**
 * The top-level children of <domain> with QEMU-namespace elements under the `qemu:` prefix,
 * and the namespace declarations <domain> is written with.
 */
export function normalizeDomainNamespaces(root: XmlElement): { children: XmlElement[]; namespaces: [string, string][] } {
  const rootScope = scopeOf(root, new Map());
  let qemu = false;
  const children = root.children.map((c) => {
    const scope = scopeOf(c, rootScope);
    if (uriOf(c.name, scope) !== QEMU_NAMESPACE_URI) return c;
    qemu = true;
    return toQemuPrefix(c, rootScope);
  });
  return { children, namespaces: qemu ? [[`xmlns:${QEMU_NAMESPACE_PREFIX}`, QEMU_NAMESPACE_URI]] : [] };
}
