// Reading libvirt's QEMU capabilities cache XML (`<qemuCaps>`, as in
// /var/cache/libvirt/qemu/capabilities/*.xml and libvirt's tests/qemucapabilitiesdata).
// Only what QemuCaps models is read; hostCPU, SEV/SGX, hyperv and the like are skipped.
import { readFile } from 'node:fs/promises';
import { SystemError, XmlError } from '../../util/errors.js';
import { parseXml, type XmlElement } from '../../util/xml.js';
import {
  formatVersion,
  isQemuAccel,
  type QemuCaps,
  type QemuCpuModel,
  type QemuMachine,
} from './model.js';

function yes(v: string | undefined): boolean | undefined {
  if (v === undefined) return undefined;
  return v === 'yes';
}

function uint(el: XmlElement, what: string, text: string, source: string): number {
  const t = text.trim();
  if (!/^\d+$/.test(t)) throw new XmlError(`${source}:${el.line}: invalid ${what} '${t}'`, el.line, el.column);
  return Number(t);
}

function parseMachine(el: XmlElement, source: string): QemuMachine | undefined {
  const accel = el.attrs.get('type') ?? 'kvm'; // very old caches had no type: KVM only
  if (!isQemuAccel(accel)) return undefined; // e.g. 'hvf': not modelled
  const name = el.attrs.get('name');
  if (!name) throw new XmlError(`${source}:${el.line}: missing machine name`, el.line, el.column);
  const m: QemuMachine = {
    accel,
    name,
    isDefault: el.attrs.get('default') === 'yes',
    maxCpus: el.attrs.has('maxCpus') ? uint(el, 'maxCpus', el.attrs.get('maxCpus')!, source) : 0,
  };
  const alias = el.attrs.get('alias');
  if (alias) m.alias = alias;
  const opt = <K extends keyof QemuMachine>(k: K, v: QemuMachine[K] | undefined): void => {
    if (v !== undefined) m[k] = v;
  };
  opt('hotplugCpus', yes(el.attrs.get('hotplugCpus')));
  opt('numaMemSupported', yes(el.attrs.get('numaMemSupported')));
  opt('defaultCPU', el.attrs.get('defaultCPU'));
  opt('defaultRAMid', el.attrs.get('defaultRAMid'));
  opt('deprecated', yes(el.attrs.get('deprecated')));
  opt('acpi', yes(el.attrs.get('acpi')));
  return m;
}

function parseCpu(el: XmlElement): QemuCpuModel | undefined {
  const accel = el.attrs.get('type');
  const name = el.attrs.get('name');
  if (!isQemuAccel(accel) || !name) return undefined;
  const cpu: QemuCpuModel = { accel, name };
  const typename = el.attrs.get('typename');
  if (typename) cpu.typename = typename;
  const usable = el.attrs.get('usable');
  if (usable === 'yes' || usable === 'no') cpu.usable = usable === 'yes';
  const blockers = el.children.filter((c) => c.name === 'blocker').map((c) => c.attrs.get('name') ?? '');
  if (blockers.length > 0) cpu.blockers = blockers;
  if (el.attrs.get('deprecated') === 'yes') cpu.deprecated = true;
  return cpu;
}

/** Parse the text of a libvirt `<qemuCaps>` document. */
export function parseLibvirtCaps(text: string | Uint8Array, source = 'input'): QemuCaps {
  const root = parseXml(text, { source });
  if (root.name !== 'qemuCaps') {
    throw new XmlError(`${source}: expected root element <qemuCaps>, found <${root.name}>`);
  }
  let binary: string | undefined;
  let version: number | undefined;
  let kvmVersion: number | undefined;
  let pkg: string | undefined;
  let arch: string | undefined;
  const flags = new Set<string>();
  const machines: QemuMachine[] = [];
  const cpuModels: QemuCpuModel[] = [];
  for (const el of root.children) {
    switch (el.name) {
      case 'emulator': binary = el.text.trim(); break;
      case 'version': version = uint(el, 'version', el.text, source); break;
      case 'kvmVersion': kvmVersion = uint(el, 'kvmVersion', el.text, source); break;
      case 'package': pkg = el.text.trim(); break;
      case 'arch': arch = el.text.trim(); break;
      case 'flag': {
        const n = el.attrs.get('name');
        if (n) flags.add(n);
        break;
      }
      case 'machine': {
        const m = parseMachine(el, source);
        if (m) machines.push(m);
        break;
      }
      case 'cpu': {
        const c = parseCpu(el);
        if (c) cpuModels.push(c);
        break;
      }
      default: break; // hostCPU, gic, sev, sgx, hypervCapabilities, ctimes...: not modelled
    }
  }
  if (version === undefined) throw new XmlError(`${source}: missing <version> in QEMU capabilities`);
  if (!arch) throw new XmlError(`${source}: missing <arch> in QEMU capabilities`);
  const caps: QemuCaps = {
    binary: binary ?? '',
    version,
    versionString: formatVersion(version),
    arch,
    source: 'libvirt-xml',
    flags,
    machines,
    deviceProps: new Map(),
  };
  if (pkg) caps.package = pkg;
  if (kvmVersion !== undefined) caps.kvmVersion = kvmVersion;
  if (cpuModels.length > 0) caps.cpuModels = cpuModels;
  return caps;
}

/** Load a libvirt capabilities cache XML file (`caps_*.xml` / capabilities/*.xml). */
export async function loadLibvirtCaps(file: string): Promise<QemuCaps> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new SystemError(`cannot read QEMU capabilities file '${file}': ${msg}`, { cause: e });
  }
  return parseLibvirtCaps(bytes, file);
}
