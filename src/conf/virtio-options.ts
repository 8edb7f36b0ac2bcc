// The virtio options carried as attributes of a device's <driver>
// (libvirt's virDomainVirtioOptions): iommu, ats, packed, page_per_vq.
import { ConfigUnsupportedError } from '../util/errors.js';
import type { ElementReader } from '../util/xml.js';
import type { OnOff } from './common.js';
import { propOnOff } from './props.js';

export interface VirtioOptions {
  iommu?: OnOff;
  ats?: OnOff;
  packed?: OnOff;
  page_per_vq?: OnOff;
}

export const VIRTIO_OPTION_NAMES = ['iommu', 'ats', 'packed', 'page_per_vq'] as const;

/** Reads the four attributes of `<driver>`; undefined when none is set. */
export function parseVirtioOptions(driver: ElementReader | undefined): VirtioOptions | undefined {
  if (!driver) return undefined;
  const o: VirtioOptions = {};
  for (const name of VIRTIO_OPTION_NAMES) {
    const v = propOnOff(driver, name);
    if (v !== undefined) o[name] = v;
  }
  return Object.keys(o).length > 0 ? o : undefined;
}

/** Attributes in libvirt's order (virDomainVirtioOptionsFormat). */
export function virtioOptionAttrs(o: VirtioOptions | undefined): [string, string | undefined][] {
  return VIRTIO_OPTION_NAMES.map((n) => [n, o?.[n]]);
}

/** virDomainCheckVirtioOptionsAreAbsent, for devices that are not virtio. */
export function validateVirtioOptionsAbsent(o: VirtioOptions | undefined): void {
  if (!o) return;
  if (o.iommu) throw new ConfigUnsupportedError('iommu driver option is only supported for virtio devices');
  if (o.ats) throw new ConfigUnsupportedError('ats driver option is only supported for virtio devices');
  if (o.packed) throw new ConfigUnsupportedError('packed driver option is only supported for virtio devices');
  if (o.page_per_vq) throw new ConfigUnsupportedError('page_per_vq option is only supported for virtio devices');
}
