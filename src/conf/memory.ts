// Memory sizes (<memory unit='MiB'>512</memory>): stored in KiB like libvirt.
import { XmlError } from '../util/errors.js';
import type { ElementReader } from '../util/xml.js';

export interface MemoryAmount {
  kib: number;
  dumpCore?: string;
}

const UNITS: Record<string, number> = {
  b: 1, bytes: 1,
  kb: 1000, k: 1024, kib: 1024,
  mb: 1000 ** 2, m: 1024 ** 2, mib: 1024 ** 2,
  gb: 1000 ** 3, g: 1024 ** 3, gib: 1024 ** 3,
  tb: 1000 ** 4, t: 1024 ** 4, tib: 1024 ** 4,
  pb: 1000 ** 5, p: 1024 ** 5, pib: 1024 ** 5,
  eb: 1000 ** 6, e: 1024 ** 6, eib: 1024 ** 6,
};

/** Scale value+unit to KiB, rounding up (virScaleInteger + VIR_DIV_UP). */
export function scaleToKiB(value: string, unit: string | undefined, element: string): number {
  const v = value.trim();
  if (!/^[0-9]+$/.test(v)) throw new XmlError(`could not parse memory element ./${element}`);
  const factor = UNITS[(unit ?? 'KiB').toLowerCase()];
  if (factor === undefined) throw new XmlError(`unknown suffix '${unit}'`);
  const bytes = BigInt(v) * BigInt(factor);
  return Number((bytes + 1023n) / 1024n);
}

export function parseMemoryValue(r: ElementReader): MemoryAmount {
  const m: MemoryAmount = { kib: scaleToKiB(r.text(), r.attr('unit'), r.name) };
  const dc = r.attr('dumpCore');
  if (dc !== undefined) m.dumpCore = dc;
  return m;
}
