// <teaming type='persistent|transient' persistent='ALIAS'/>, on <interface> and
// on plain PCI <hostdev>: type, parse, format and validation side by side.
import { ConfigUnsupportedError } from '../util/errors.js';
import type { ElementReader, Extra, XmlWriter } from '../util/xml.js';

/** Index 0 is "not set", as in libvirt's enum, so the literal 'none' is refused. */
export const TEAMING_TYPES = ['none', 'persistent', 'transient'] as const;
export type TeamingType = Exclude<(typeof TEAMING_TYPES)[number], 'none'>;

export interface Teaming {
  type: TeamingType;
  persistent?: string;
  extra?: Extra;
}

/**
 * libvirt reads ./teaming/@type and ./teaming/@persistent (each from the first
 * <teaming> carrying it); both empty/missing means no teaming (not an error).
 * Further <teaming> elements are dropped, as libvirt does; lint reports them.
 */
export function parseTeaming(parent: ElementReader): Teaming | undefined {
  const all = parent.children('teaming');
  if (all.length === 0) return undefined;
  // XPath string(./teaming/@type): the attribute of the first <teaming> that has one.
  const first = (name: string) => all.find((t) => t.hasAttr(name))?.attr(name) || undefined;
  const type = first('type');
  const persistent = first('persistent');
  const el = all[0]!;
  for (const t of all) {
    t.attr('type');
    t.attr('persistent');
  }
  if (type === undefined && persistent === undefined) return undefined;
  if (type === undefined || type === 'none' || !(TEAMING_TYPES as readonly string[]).includes(type)) {
    throw new ConfigUnsupportedError(`unknown teaming type '${type ?? '(null)'}'`);
  }
  const t: Teaming = { type: type as TeamingType };
  if (persistent !== undefined) t.persistent = persistent;
  const extra = el.rest();
  if (extra) t.extra = extra;
  return t;
}

export function formatTeaming(w: XmlWriter, t: Teaming | undefined): void {
  if (!t) return;
  w.empty('teaming', [['type', t.type], ['persistent', t.persistent]], t.extra);
}

/** virDomainNetDefValidate's teaming checks. */
export function validateNetTeaming(t: Teaming | undefined): void {
  if (!t) return;
  if (t.type === 'transient') {
    if (t.persistent === undefined) {
      throw new ConfigUnsupportedError("teaming persistent attribute must be set if teaming type is 'transient'");
    }
  } else if (t.persistent !== undefined) {
    throw new ConfigUnsupportedError(`teaming persistent attribute not allowed if teaming type is '${t.type}'`);
  }
}

/** virDomainHostdevDefValidate's teaming checks, in libvirt's order. */
export function validateHostdevTeaming(t: Teaming | undefined, isPciSubsystem: boolean): void {
  if (!t) return;
  if (t.type !== 'transient') throw new ConfigUnsupportedError("teaming hostdev devices must have type='transient'");
  if (t.persistent === undefined) {
    throw new ConfigUnsupportedError('missing required persistent attribute in hostdev teaming element');
  }
  if (!isPciSubsystem) throw new ConfigUnsupportedError('teaming is only supported for pci hostdev devices');
}
