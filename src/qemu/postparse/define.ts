// What `virsh define` does to a parsed domain, in libvirt's order: the UUID read (a
// malformed one is refused), post-parse (defaults, implicit devices, addresses), then the
// define-time validators (domain_validate.c, qemu_validate.c, the address checks). The
// CLI's validate and format --post-parse both run exactly this, so they never disagree.
import type { Domain } from '../../conf/domain.js';
import { normalizeUuid } from '../../conf/interface-util.js';
import { validateDomain } from '../../conf/validate.js';
import { XmlError } from '../../util/errors.js';
import type { QemuCaps } from '../caps/index.js';
import { type PostParseOptions, postParseDomain } from './postparse.js';
import { validateDomainForQemu } from './validate.js';
import { validateDeviceAddressesForQemu } from './validate-address.js';

export function defineDomain(dom: Domain, caps: QemuCaps, opts: PostParseOptions): Domain {
  if (dom.uuid !== undefined) {
    const uuid = normalizeUuid(dom.uuid);
    if (!uuid) throw new XmlError('malformed uuid element');
    dom.uuid = uuid;
  }
  const out = postParseDomain(dom, caps, opts);
  validateDomain(out);
  validateDomainForQemu(out, caps);
  validateDeviceAddressesForQemu(out, caps);
  return out;
}
