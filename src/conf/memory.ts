// Memory sizes (<memory unit='MiB'>512</memory>): stored in KiB like libvirt.
import { NumericalOverflowError, XmlError } from '../util/errors.js';
import type { ElementReader } from '../util/xml.js';
import { propOnOff } from './props.js';

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

const ULLONG_MAX = 2n ** 64n - 1n;
/** virMemoryMaxValue on 64-bit hosts: off_t's limit, LLONG_MAX bytes. */
const MEMORY_MAX_BYTES = 2n ** 63n - 1n;

/**
 * Scale value+unit to KiB, rounding up (virDomainParseMemory: virParseScaledValue with
 * LLONG_MAX bytes as the limit, then VIR_DIV_UP). The result stays below 2^53, so it is an
 * exact JavaScript integer.
 */
export function scaleToKiB(value: string, unit: string | undefined, element: string): number {
  const v = value.trim();
  if (!/^[0-9]+$/.test(v) || BigInt(v) > ULLONG_MAX) throw new XmlError(`could not parse memory element ./${element}`);
  const factor = UNITS[(unit ?? 'KiB').toLowerCase()];
  if (factor === undefined) throw new XmlError(`unknown suffix '${unit}'`);
  const n = BigInt(v);
  if (n > MEMORY_MAX_BYTES / BigInt(factor)) throw new NumericalOverflowError(`value too large: ${n}${unit ?? ''}`);
  const kib = (n * BigInt(factor) + 1023n) / 1024n;
  if (kib >= (MEMORY_MAX_BYTES + 1023n) / 1024n) throw new NumericalOverflowError('size value too large');
  return Number(kib);
}

export function parseMemoryValue(r: ElementReader): MemoryAmount {
  const m: MemoryAmount = { kib: scaleToKiB(r.text(), r.attr('unit'), r.name) };
  // virXMLPropTristateSwitch: on/off only (the value reaches -machine dump-guest-core=).
  const dc = propOnOff(r, 'dumpCore');
  if (dc !== undefined) m.dumpCore = dc;
  return m;
}
