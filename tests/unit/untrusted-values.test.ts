// XML values that reach key=value options (-machine, -cpu, -vnc, -device) are checked as
// libvirt checks them or escaped as libvirt escapes them (commas doubled), and out-of-range
// numbers get libvirt's messages instead of a float, a null or a 20-digit -smp. Each case
// runs what `domxml-to-native` runs: parse, post-parse, conf and QEMU validation, argv.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { corpusAvailable, corpusDir } from '../helpers/paths.js';
import { parseDomainXml } from '../../src/conf/domain.js';
import { validateDomain } from '../../src/conf/validate.js';
import { loadLibvirtCaps } from '../../src/qemu/caps/index.js';
import { postParseDomain, validateDomainForQemu } from '../../src/qemu/postparse/index.js';
import { buildCommandLine } from '../../src/qemu/command/index.js';

interface Case {
  name: string;
  /** Replaces the pieces of the template below. */
  memory?: string;
  vcpu?: string;
  cpu?: string;
  devices?: string;
  /** The whole error message, or text one argument of the command line must contain. */
  error?: string | RegExp;
  arg?: string;
}

const disk = (extra: string) => `<disk type='file' device='disk'><source file='/var/lib/a.img'/><target dev='sda' bus='sata'/>${extra}</disk>`;
const vnc = (listen: string) => `<graphics type='vnc' port='5901' autoport='no' listen='${listen}'/>`;
const isaSerial = (attrs: string) => `<serial type='pty'><target type='isa-serial'/><address type='isa' ${attrs}/></serial>`;

const cases: Case[] = [
  { name: 'dumpCore with an injected option', memory: "<memory dumpCore='on,INJ=on'>65536</memory>", error: "XML error: Invalid value for attribute 'dumpCore' in element 'memory': 'on,INJ=on'." },
  { name: 'dumpCore on', memory: "<memory dumpCore='on'>65536</memory>", arg: ',dump-guest-core=on,' },
  { name: 'CPU model with a comma is escaped', cpu: "<cpu mode='custom'><model>qemu64,foo=on</model></cpu>", arg: 'qemu64,,foo=on' },
  { name: 'CPU feature name with a comma', cpu: "<cpu mode='custom'><model>qemu64</model><feature policy='require' name='x,y'/></cpu>", error: 'internal error: unknown CPU feature x,y' },
  { name: 'CPU feature name with an equals sign', cpu: "<cpu mode='custom'><model>qemu64</model><feature policy='disable' name='pmu=on'/></cpu>", error: 'internal error: unknown CPU feature pmu=on' },
  { name: 'CPU feature with a dot', cpu: "<cpu mode='custom'><model>qemu64</model><feature policy='require' name='sse4.2'/></cpu>", arg: 'qemu64,sse4.2=on' },
  { name: 'VNC listen with an injected option', devices: vnc('1.2.3.4,password=off'), error: "unsupported configuration: graphics listen address '1.2.3.4,password=off' is neither an IP address nor a host name" },
  { name: 'VNC listen on IPv6', devices: vnc('::1'), arg: '[::1]:1,audiodev=audio1' },
  { name: 'VNC listen on a host name', devices: vnc('localhost'), arg: 'localhost:1,audiodev=audio1' },
  { name: 'malformed wwn', devices: disk('<wwn>zzzz</wwn>'), error: 'internal error: Malformed wwn: zzzz' },
  { name: 'wwn with 0x and all 64 bits', devices: disk('<wwn>0x5000c50015ea71ad</wwn>'), arg: '"wwn":5764824127192592813' },
  { name: 'bad ISA iobase', devices: isaSerial("iobase='zz'"), error: "XML error: Invalid value for attribute 'iobase' in element 'address': 'zz'. Expected non-negative integer value" },
  { name: 'ISA iobase in hexadecimal without 0x', devices: isaSerial("iobase='3f8' irq='4'"), arg: '"iobase":1016,"irq":4' },
  { name: 'memory beyond 64 bits', memory: '<memory>99999999999999999999</memory>', error: 'XML error: could not parse memory element ./memory' },
  { name: 'memory beyond off_t', memory: "<memory unit='EiB'>9</memory>", error: 'numerical overflow: value too large: 9EiB' },
  { name: 'memory in bytes just below the limit', memory: "<memory unit='b'>9223372036854775807</memory>", error: 'numerical overflow: size value too large' },
  { name: 'vcpu with 20 digits', vcpu: '<vcpu>99999999999999999999</vcpu>', error: 'XML error: maximum vcpus count must be an integer' },
  { name: 'vcpu as a float', vcpu: '<vcpu>1e3</vcpu>', error: 'XML error: maximum vcpus count must be an integer' },
  { name: 'vcpu above the machine type limit', vcpu: '<vcpu>5000</vcpu>', error: /^unsupported configuration: Maximum CPUs greater than specified machine type limit \d+$/ },
  { name: 'no vcpu', vcpu: '<vcpu>0</vcpu>', error: 'unsupported configuration: Domain requires at least 1 vCPU' },
];

function domainXml(c: Case): string {
  return `<domain type='qemu'><name>t</name>${c.memory ?? '<memory>65536</memory>'}${c.vcpu ?? '<vcpu>1</vcpu>'}` +
    `<os><type arch='x86_64' machine='q35'>hvm</type></os>${c.cpu ?? ''}` +
    `<devices><emulator>/usr/bin/qemu-system-x86_64</emulator>${c.devices ?? ''}</devices></domain>`;
}

if (corpusAvailable()) {
  const caps = loadLibvirtCaps(path.join(corpusDir, 'qemucaps', 'caps_10.0.0_x86_64.xml'));
  for (const c of cases) {
    test(`untrusted value: ${c.name}`, async () => {
      const run = async () => {
        const dom = postParseDomain(parseDomainXml(domainXml(c)), await caps, { profile: 'libvirt-test' });
        validateDomain(dom);
        validateDomainForQemu(dom, await caps);
        return buildCommandLine(dom, await caps, { profile: 'libvirt-test' }).args;
      };
      if (c.error !== undefined) {
        await assert.rejects(run(), (e: Error) => (typeof c.error === 'string' ? e.message === c.error : c.error!.test(e.message)) || assert.fail(e.message));
      } else {
        const args = await run();
        assert.ok(args.some((a) => a.includes(c.arg!)), `no argument with ${c.arg} in:\n${args.join('\n')}`);
      }
    });
  }
}
