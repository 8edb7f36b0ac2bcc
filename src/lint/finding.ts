// What every lint rule produces and shares: the finding, the options, and devices located by their
// element path (XPath-like, 1-based like libvirt's error paths). Its own module so that the rule files and
// lint.ts, which runs them, depend on it rather than on each other.
import type { Domain } from '../conf/domain.js';
import { deviceName, type Device } from '../conf/devices.js';

export type LintSeverity = 'error' | 'warning';

export interface LintFinding {
  severity: LintSeverity;
  rule: string;
  path: string;
  message: string;
  line?: number;
}

export interface LintOptions {
  /** Post-parse (defaults + PCI addresses) with the target QEMU's capabilities, for placement rules. */
  postParse?: (dom: Domain) => Domain;
}

/** A device with its XPath, as it stood in the input. */
export interface Located<T> {
  dev: T;
  path: string;
  index: number;
}

export function locateDevices(devices: Device[]): Located<Device>[] {
  const counts = new Map<string, number>();
  return devices.map((dev, index) => {
    const name = deviceName(dev);
    const n = (counts.get(name) ?? 0) + 1;
    counts.set(name, n);
    return { dev, index, path: `/domain/devices/${name}[${n}]` };
  });
}
