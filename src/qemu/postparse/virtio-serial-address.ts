// Ports on virtio-serial controllers for virtio consoles and channels
// (qemuDomainAssignVirtioSerialAddresses): addresses the user wrote are kept,
// channels without one take the first free port from 1. Virtio consoles get no address
// (libvirt writes none for them: QEMU's virtconsole finds its own port), so post-parse stays
// idempotent.
import type { OtherAddress } from '../../conf/address.js';
import type { Chardev } from '../../conf/chardev.js';
import { type Controller, isController } from '../../conf/controller.js';
import type { Domain } from '../../conf/domain.js';
import { InternalError, XmlError } from '../../util/errors.js';

/** QEMU's default number of ports per virtio-serial bus. */
const DEFAULT_PORTS = 31;

interface VioAddr {
  controller: number;
  bus: number;
  port: number;
}

function readAddr(c: Chardev): VioAddr | undefined {
  const a = c.info.address as OtherAddress | undefined;
  if (a?.type !== 'virtio-serial') return undefined;
  const get = (k: string) => Number(a.attrs.find(([n]) => n === k)?.[1] ?? 0) || 0;
  return { controller: get('controller'), bus: get('bus'), port: get('port') };
}

function writeAddr(c: Chardev, a: VioAddr): void {
  c.info.address = {
    type: 'virtio-serial',
    attrs: [['controller', String(a.controller)], ['bus', String(a.bus)], ['port', String(a.port)]],
  };
}

export function assignVirtioSerialAddresses(dom: Domain): void {
  const controllers = dom.devices
    .filter((d): d is Controller => isController(d) && d.type === 'virtio-serial')
    .sort((a, b) => a.index - b.index);
  const used = new Map<number, { max: number; ports: Set<number> }>();
  for (const c of controllers) used.set(c.index, { max: c.ports ?? DEFAULT_PORTS, ports: new Set() });

  const virtio = (kind: string) =>
    dom.devices.filter((d) => d.kind === kind && (d as Chardev).target.type === 'virtio') as Chardev[];
  const consoles = virtio('console');
  const channels = virtio('channel');

  for (const c of [...consoles, ...channels]) {
    const a = readAddr(c);
    if (!a || a.port === 0) continue;
    const set = used.get(a.controller);
    if (!set) continue;
    if (set.ports.has(a.port)) {
      throw new XmlError(`virtio serial port ${a.port} on controller ${a.controller} is already occupied`);
    }
    set.ports.add(a.port);
  }

  const next = (c: Chardev): void => {
    const given = readAddr(c);
    if (given && given.port !== 0) return;
    const candidates = given ? controllers.filter((x) => x.index === given.controller) : controllers;
    for (const ctl of candidates) {
      const set = used.get(ctl.index)!;
      for (let port = 1; port < set.max; port++) {
        if (set.ports.has(port)) continue;
        set.ports.add(port);
        writeAddr(c, { controller: ctl.index, bus: 0, port });
        return;
      }
    }
    throw new InternalError('Unable to find a free virtio-serial port');
  };
  for (const c of channels) next(c);
}
