// libvirt's QEMU XML namespace (xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'):
// <qemu:commandline> with <qemu:arg value=.../> and <qemu:env name=... value=.../>.
//
// It is also how a domain says "an emulated NIC is the failover primary" (our
// test and demo setup, where no SR-IOV VF exists): a `-device` passed through
// with failover_pair_id=<standby alias>. Real libvirt accepts and runs the same
// XML; our runtime treats that device exactly like a transient-teaming hostdev.
import { XmlError } from '../../util/errors.js';
import { type Domain, QEMU_NAMESPACE_URI } from '../../conf/index.js';

export { QEMU_NAMESPACE_URI };

export interface QemuCommandline {
  args: string[];
  env: [string, string][];
}

/** The <qemu:commandline> passthrough, or undefined. The element stays verbatim in the XML. */
export function qemuCommandline(dom: Domain): QemuCommandline | undefined {
  const els = dom.sections.get('qemu:commandline');
  if (!els?.length) return undefined;
  if (!dom.namespaces.some(([k, v]) => k === 'xmlns:qemu' && v === QEMU_NAMESPACE_URI)) {
    throw new XmlError(`<qemu:commandline> needs xmlns:qemu='${QEMU_NAMESPACE_URI}' on <domain>`);
  }
  const out: QemuCommandline = { args: [], env: [] };
  for (const el of els) {
    for (const c of el.children) {
      if (c.name === 'qemu:arg') {
        const v = c.attrs.get('value');
        if (v === undefined) throw new XmlError('No qemu command-line argument specified');
        out.args.push(v);
      } else if (c.name === 'qemu:env') {
        const name = c.attrs.get('name');
        if (!name) throw new XmlError('No qemu environment name specified');
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new XmlError('Invalid environment name, it must begin with a letter or underscore');
        out.env.push([name, c.attrs.get('value') ?? '']);
      }
    }
  }
  return out;
}

/** Parse a -device value: JSON ({"driver":...}) or QEMU's key=value list (",," escapes a comma). */
export function parseDeviceOption(value: string): Map<string, string> {
  const props = new Map<string, string>();
  if (value.trimStart().startsWith('{')) {
    let obj: unknown;
    try {
      obj = JSON.parse(value);
    } catch {
      throw new XmlError(`invalid JSON in -device argument: ${value}`);
    }
    for (const [k, v] of Object.entries(obj as Record<string, unknown>)) props.set(k, typeof v === 'string' ? v : JSON.stringify(v));
    return props;
  }
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < value.length; i++) {
    if (value[i] === ',' && value[i + 1] === ',') {
      cur += ',';
      i++;
    } else if (value[i] === ',') {
      parts.push(cur);
      cur = '';
    } else cur += value[i];
  }
  parts.push(cur);
  parts.forEach((p, i) => {
    const eq = p.indexOf('=');
    if (eq < 0) props.set(i === 0 ? 'driver' : p, i === 0 ? p : 'on');
    else props.set(p.slice(0, eq), p.slice(eq + 1));
  });
  return props;
}

/** A failover primary passed through <qemu:commandline> (an emulated PCIe NIC standing in for a VF). */
export interface EmulatedPrimary {
  /** QEMU device id (qdev id). */
  id: string;
  /** The standby's alias (its QEMU id), from failover_pair_id. */
  standbyId: string;
  driver: string;
  mac?: string;
  bus?: string;
  addr?: string;
  props: Map<string, string>;
  /** Written as JSON (libvirt's own -device form) rather than key=value. */
  json: boolean;
}

export function emulatedPrimaries(dom: Domain): EmulatedPrimary[] {
  const cl = qemuCommandline(dom);
  if (!cl) return [];
  const out: EmulatedPrimary[] = [];
  for (let i = 0; i + 1 < cl.args.length; i++) {
    if (cl.args[i] !== '-device') continue;
    const value = cl.args[i + 1]!;
    const props = parseDeviceOption(value);
    const standbyId = props.get('failover_pair_id');
    if (standbyId === undefined) continue;
    const id = props.get('id');
    // QEMU's own words for this mistake.
    if (!id) throw new XmlError('Device with failover_pair_id needs to have id');
    const p: EmulatedPrimary = { id, standbyId, driver: props.get('driver') ?? '', props, json: value.trimStart().startsWith('{') };
    const mac = props.get('mac');
    const bus = props.get('bus');
    const addr = props.get('addr');
    if (mac !== undefined) p.mac = mac.toLowerCase();
    if (bus !== undefined) p.bus = bus;
    if (addr !== undefined) p.addr = addr;
    out.push(p);
  }
  return out;
}
