// validateDomainForQemu: libvirt's QEMU-driver checks, plus our refusal of
// teaming on a QEMU without virtio-net failover (< 4.2), which libvirt 11.3 no longer checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot, testDataDir } from '../helpers/paths.js';
import { parseDomainXml } from '../../src/conf/domain.js';
import { capsFromJson } from '../../src/qemu/caps/json.js';
import { validateDomainForQemu } from '../../src/qemu/postparse/validate.js';

const caps = (name: string) => capsFromJson(JSON.parse(readFileSync(path.join(testDataDir, 'caps', `${name}.json`), 'utf8')).caps);
const pair = () => parseDomainXml(readFileSync(path.join(repoRoot, 'examples', 'failover-pair.xml')));
const plain = () => parseDomainXml("<domain type='qemu'><name>x</name><os><type>hvm</type></os><devices><interface type='user'><model type='virtio'/></interface></devices></domain>");

test('teaming on a QEMU without failover is refused with the binary and its version', () => {
  assert.throws(() => validateDomainForQemu(pair(), caps('qemu-4.1-no-failover')), {
    code: 'CONFIG_UNSUPPORTED',
    message: /^unsupported configuration: this QEMU binary \(.*, version 4\.1\.\d+\) does not support virtio-net failover \(needs QEMU 4\.2 or newer\)$/,
  });
});

test('the same QEMU is fine for a domain without teaming', () => {
  validateDomainForQemu(plain(), caps('qemu-4.1-no-failover'));
});
