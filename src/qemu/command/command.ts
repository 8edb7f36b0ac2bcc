// The QEMU command line of a domain, built the way libvirt 11.3 builds it
// (qemuBuildCommandLine): same option order, same -device/-netdev/-object/
// -blockdev JSON and property order, same ids. The domain must already be
// post-parsed (defaults and PCI addresses filled in).
//
// Sections live in command-*.ts: machine (fixed head and tail), devices
// (controllers, chardevs, input, audio, graphics, video, watchdog, balloon),
// disk, net, hostdev; command-render.ts prints the result.
import type { Device } from '../../conf/devices.js';
import type { Disk } from '../../conf/disk.js';
import type { Domain } from '../../conf/domain.js';
import { findEmulator } from '../../conf/emulator.js';
import type { Interface } from '../../conf/interface.js';
import { InvalidArgError, OperationUnsupportedError } from '../../util/errors.js';
import { assignAliases } from './aliases.js';
import type { QemuCaps } from '../caps/index.js';
import { type BuildContext, unsupported } from './context.js';
import {
  buildControllers, buildInputs, buildMemballoon, buildRngs, buildVideos, buildWatchdogs,
  checkUnsupportedDevices,
} from './devices.js';
import { buildChannels, buildConsoles, buildSerials, checkOtherChardevs } from './chardev.js';
import { buildDisks } from './disk.js';
import { UNSUPPORTED_SECTIONS, domainArch, domainMachine, unsupportedOsPart } from './domain.js';
import { buildHostdevs } from './hostdev.js';
import { buildHead, buildTail } from './machine.js';
import { buildInterfaces, resolveNetworks } from './net.js';
import { type CommandProfileName, defaultProfile, libvirtTestProfile } from './profile.js';
import { ArgvBuilder } from './props.js';
import type { QemuCommand } from './render.js';
import type { NetworkResolver } from './network-resolve.js';
import { qemuCommandline } from './namespace.js';
import { buildHubs, buildRedirdevs } from './usb.js';
import { buildSounds } from './sound.js';
import { buildTpms } from './tpm.js';
import { buildAudio } from './audio.js';
import { buildGraphics } from './graphics.js';
import { assignUsbPorts } from './usb-address.js';

export type { QemuCommand } from './render.js';
export { renderArgsFile, renderArgvLines, renderShellLine, shellQuote } from './render.js';

export interface BuildOptions {
  /** 'libvirt-test' reproduces libvirt's test harness (fixed paths and fds); 'default' is for running QEMU. */
  profile: CommandProfileName;
  /** Per-domain runtime directory (monitor socket, master key, HOME); required by the default profile. */
  runtimeDir?: string;
  /** Where <interface type='network'> finds its network and port definitions. */
  networks?: NetworkResolver;
  /** Environment passed on to QEMU (default profile); defaults to process.env. */
  env?: NodeJS.ProcessEnv;
}

/** <features> children the command line handles (or that change nothing for QEMU on x86). */
const HANDLED_FEATURES = new Set(['acpi', 'apic', 'pae', 'vmport', 'smm', 'ioapic', 'pmu', 'pvspinlock', 'privnet']);

/** Refuse configurations whose command line we would get wrong instead of building it. */
function checkSupported(dom: Domain): void {
  for (const s of UNSUPPORTED_SECTIONS) if (dom.sections.has(s)) unsupported(`<${s}>`);
  const os = unsupportedOsPart(dom);
  if (os) unsupported(os);
  for (const f of dom.features?.items ?? []) if (!HANDLED_FEATURES.has(f.name) || f.children.length) unsupported(`<features><${f.name}>`);
  const cpu = dom.cpu;
  if (cpu?.mode === 'host-model') unsupported("<cpu mode='host-model'>");
  if (cpu?.cache) unsupported('<cpu><cache>');
  if (cpu?.maxphysaddr) unsupported('<cpu><maxphysaddr>');
  if (cpu?.extra?.children.length) unsupported(`<cpu><${cpu.extra.children[0].name}>`);
}

/** qemuProcessPrepareDeviceBootorder: <os><boot dev=...> turned into per-device boot indexes. */
function osBootIndexes(dom: Domain, devs: string[]): Map<Device, number> | undefined {
  if (devs.length === 0) return undefined;
  const pos = (dev: string) => devs.lastIndexOf(dev) + 1;
  let cd = pos('cdrom');
  let fd = pos('fd');
  let hd = pos('hd');
  const map = new Map<Device, number>();
  for (const d of dom.devices) {
    if (d.kind !== 'disk') continue;
    const disk = d as Disk;
    if (disk.device === 'cdrom') {
      map.set(disk, cd);
      cd = 0;
    } else if (disk.device === 'floppy') {
      map.set(disk, fd);
      fd = 0;
    } else {
      map.set(disk, hd);
      hd = 0;
    }
  }
  const firstNet = dom.devices.find((d) => d.kind === 'interface');
  if (firstNet && pos('network') > 0) map.set(firstNet, pos('network'));
  return map;
}

/** The QEMU command (environment, binary, arguments) for a post-parsed domain. */
export function buildCommandLine(defined: Domain, caps: QemuCaps, opts: BuildOptions): QemuCommand {
  checkSupported(defined);
  // USB ports are chosen at start (and usb-hubs added when they run out), not kept in the XML.
  const { dom, ports: usbPorts } = assignUsbPorts(defined);
  if (opts.profile === 'default' && !opts.runtimeDir) {
    throw new InvalidArgError('the default command-line profile needs a runtime directory');
  }
  const profile = opts.profile === 'libvirt-test' ? libvirtTestProfile(dom.name) : defaultProfile(opts.runtimeDir!, opts.env);
  const binary = findEmulator(dom.devices) ?? caps.binary;
  if (!binary) throw new OperationUnsupportedError('no emulator binary: neither <emulator> nor the capabilities name one');
  const resolver = opts.networks;
  const ctx: BuildContext = {
    dom,
    caps,
    profile,
    argv: new ArgvBuilder(caps),
    aliases: new Map(),
    machine: domainMachine(dom),
    arch: domainArch(dom),
    actualNets: new Map(),
    fdset: 0,
    usbPorts,
  };
  const osBoot1 = osBootIndexes(dom, dom.os.boot);
  if (osBoot1) ctx.osBootIndex = osBoot1;
  ctx.aliases = assignAliases(dom, {
    netActualType: (net: Interface) => (resolver && net.source?.network ? resolver.resolveType(net.source.network) : net.type),
  });
  resolveNetworks(ctx, resolver);
  checkUnsupportedDevices(ctx);
  checkOtherChardevs(ctx);

  buildHead(ctx);
  buildControllers(ctx);
  buildHubs(ctx);
  buildDisks(ctx);
  buildInterfaces(ctx);
  buildSerials(ctx);
  buildChannels(ctx);
  buildConsoles(ctx);
  buildTpms(ctx);
  buildInputs(ctx);
  buildAudio(ctx);
  buildGraphics(ctx);
  buildVideos(ctx);
  buildSounds(ctx);
  buildWatchdogs(ctx);
  buildRedirdevs(ctx);
  buildHostdevs(ctx);
  buildMemballoon(ctx);
  buildRngs(ctx);
  // <qemu:commandline> passthrough: after the devices, before the sandbox and -msg, as in libvirt.
  const ns = qemuCommandline(dom);
  if (ns) ctx.argv.add(...ns.args);
  buildTail(ctx);
  const env = ns ? [...ctx.argv.env, ...ns.env] : ctx.argv.env;
  return { env, binary, args: ctx.argv.args };
}
