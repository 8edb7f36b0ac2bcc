// The same host device used twice in one domain (as <hostdev> or <interface type='hostdev'>): its own
// module because it reads both element types, and interface.ts already builds on hostdev.ts.
import { XmlError } from '../util/errors.js';
import type { Device } from './devices.js';
import { hostdevKey, hostdevSubsysKey, type Hostdev } from './hostdev.js';
import type { Interface } from './interface.js';

/**
 * `XML error: Hostdev already exists in the domain configuration`: two host
 * devices (plain <hostdev> or <interface type='hostdev'>) use the same host
 * device. libvirt raises it while parsing the domain; parseDomain's caller
 * runs it after parsing. PCI compares host addresses; other types compare
 * their <source> as written.
 */
export function checkDuplicateHostdevs(dom: { devices: readonly Device[] }): void {
  const seen = new Set<string>();
  for (const d of dom.devices) {
    let key: string | undefined;
    if (d.kind === 'hostdev') {
      key = hostdevKey(d as Hostdev);
    } else if (d.kind === 'interface') {
      const n = d as Interface;
      if (n.type === 'hostdev' && n.hostdev) key = hostdevSubsysKey(n.hostdev);
    }
    if (key === undefined) continue;
    if (seen.has(key)) throw new XmlError('Hostdev already exists in the domain configuration');
    seen.add(key);
  }
}

