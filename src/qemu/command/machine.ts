// The fixed head of the command line, in libvirt's order (qemuBuildCommandLine):
// environment, -name, -S, master key, -machine, -accel, -cpu, memory, -smp,
// -uuid, -display, -no-user-config/-nodefaults, monitor, -rtc, power
// management, -boot.
import { deviceName } from '../../conf/devices.js';
import { ConfigUnsupportedError, InternalError } from '../../util/errors.js';
import { findMachine, type QemuAccel } from '../caps/index.js';
import type { BuildContext } from './context.js';
import { unsupported } from './context.js';
import { domainPm, feature, featureState, isQ35 } from './domain.js';
import { escapeComma } from './props.js';
import { pcspkAudiodev } from './sound.js';
import { buildPanics } from './panic.js';
import { buildLoaderArgs, buildPflashBlockdevs, type PflashNodes } from './firmware.js';

export function accelOf(ctx: BuildContext): QemuAccel {
  switch (ctx.dom.type) {
    case 'qemu': return 'tcg';
    case 'kvm': return 'kvm';
    default: return unsupported(`<domain type='${ctx.dom.type}'>`);
  }
}

function capsMachine(ctx: BuildContext) {
  return findMachine(ctx.caps, accelOf(ctx), ctx.machine);
}

/** HOME and XDG_* point at the per-domain directory (privileged libvirt). */
export function buildEnv(ctx: BuildContext): void {
  for (const [k, v] of ctx.profile.baseEnv) ctx.argv.setEnv(k, v);
  ctx.argv.setEnv('HOME', ctx.profile.domainDir);
  ctx.argv.setEnv('XDG_DATA_HOME', `${ctx.profile.domainDir}/.local/share`);
  ctx.argv.setEnv('XDG_CACHE_HOME', `${ctx.profile.domainDir}/.cache`);
  ctx.argv.setEnv('XDG_CONFIG_HOME', `${ctx.profile.domainDir}/.config`);
}

function machineArgs(ctx: BuildContext, pflash: PflashNodes): void {
  let m = `${escapeComma(ctx.machine)},usb=off`;
  const vmport = featureState(ctx.dom, 'vmport');
  if (vmport) m += `,vmport=${vmport}`;
  const smm = featureState(ctx.dom, 'smm');
  if (smm) m += `,smm=${smm}`;
  const ioapic = feature(ctx.dom, 'ioapic')?.attrs.driver;
  if (ioapic === 'qemu') m += ',kernel_irqchip=split';
  else if (ioapic === 'kvm') m += ',kernel_irqchip=on';
  m += `,dump-guest-core=${ctx.dom.memory?.dumpCore ?? 'off'}`;
  const ramId = capsMachine(ctx)?.defaultRAMid;
  if (ramId) m += `,memory-backend=${ramId}`;
  if (pflash.pflash0) m += `,pflash0=${pflash.pflash0}`;
  if (pflash.pflash1) m += `,pflash1=${pflash.pflash1}`;
  const pcspk = pcspkAudiodev(ctx);
  if (pcspk) m += `,pcspk-audiodev=${pcspk}`;
  if (ctx.dom.os.bios?.useserial === 'yes') m += ',graphics=off';
  const hpet = ctx.dom.clock.timers.find((t) => t.name === 'hpet');
  if (hpet?.present && ctx.caps.flags.has('machine-hpet')) m += `,hpet=${hpet.present === 'yes' ? 'on' : 'off'}`;
  if (capsMachine(ctx)?.acpi === true) m += `,acpi=${featureState(ctx.dom, 'acpi') ?? 'off'}`;
  ctx.argv.add('-machine', m);
}

/** -cpu: the model (with vendor and features) plus the flags some features and timers add. */
function cpuArgs(ctx: BuildContext): void {
  const cpu = ctx.dom.cpu;
  let model = '';
  if (cpu && (cpu.mode !== 'custom' || cpu.model)) {
    switch (cpu.mode) {
      case 'host-passthrough':
        // Only KVM can pass the host CPU through (virQEMUCapsIsCPUModeSupported).
        if (ctx.dom.type !== 'kvm') {
          throw new ConfigUnsupportedError(`CPU mode 'host-passthrough' for ${ctx.arch} ${ctx.dom.type} domain on ${ctx.arch} host is not supported by hypervisor`);
        }
        model = 'host';
        break;
      case 'maximum': model = 'max'; break;
      case 'custom': model = escapeComma(cpu.model ?? ''); break;
      default: return unsupported(`<cpu mode='${cpu.mode}'>`);
    }
    if (cpu.mode !== 'custom' && cpu.migratable && ctx.caps.flags.has('cpu.migratable')) model += `,migratable=${cpu.migratable}`;
    if (cpu.vendor_id) model += `,vendor=${escapeComma(cpu.vendor_id)}`;
    for (const f of cpu.features) {
      if (f.policy === 'force' || f.policy === 'require') model += `,${f.name}=on`;
      else if (f.policy === 'disable' || f.policy === 'forbid') model += `,${f.name}=off`;
    }
  } else if (ctx.arch === 'i686' && ctx.caps.binary.includes('x86_64')) {
    model = 'qemu32';
  }
  let flags = '';
  for (const t of ctx.dom.clock.timers) {
    if (t.name === 'kvmclock' && t.present) flags += `,kvmclock=${t.present === 'yes' ? 'on' : 'off'}`;
    else if (t.name === 'hypervclock' && t.present === 'yes') flags += ',hv-time=on';
    else if (t.name === 'tsc' && t.frequency) flags += `,tsc-frequency=${t.frequency}`;
  }
  const eoi = feature(ctx.dom, 'apic')?.attrs.eoi;
  if (eoi) flags += `,kvm-pv-eoi=${eoi}`;
  const pvspinlock = featureState(ctx.dom, 'pvspinlock');
  if (pvspinlock) flags += `,kvm-pv-unhalt=${pvspinlock}`;
  const pmu = featureState(ctx.dom, 'pmu');
  if (pmu) flags += `,pmu=${pmu}`;
  if (flags && !model) model = ctx.arch === 'i686' ? 'qemu32' : 'qemu64';
  if (model) ctx.argv.add('-cpu', model + flags);
}

/** -m, the default RAM backend object, -overcommit. */
function memoryArgs(ctx: BuildContext): void {
  const written = ctx.dom.memory?.kib;
  if (written === undefined) throw new InternalError('domain has no <memory>');
  // qemuDomainAlignMemorySizes: x86 guest memory is rounded up to whole MiB at start.
  const kib = Math.ceil(written / 1024) * 1024;
  ctx.argv.add('-m', `size=${Math.floor(kib / 512) * 512}k`);
  const ramId = capsMachine(ctx)?.defaultRAMid;
  if (ramId) ctx.argv.object({ 'qom-type': 'memory-backend-ram', id: ramId, size: kib * 1024 });
  ctx.argv.add('-overcommit', 'mem-lock=off');
}

/** -smp: online vCPUs, maxcpus when some are offline, and the topology. */
function smpArgs(ctx: BuildContext): void {
  const max = ctx.dom.vcpu?.count ?? 1;
  const online = ctx.dom.vcpu?.current ?? max;
  let s = `${online}`;
  if (online !== max) s += `,maxcpus=${max}`;
  const topo = ctx.dom.cpu?.topology;
  if (topo) {
    if (topo.dies !== 1 && !ctx.caps.flags.has('smp-dies')) throw new ConfigUnsupportedError('Only 1 die per socket is supported');
    if (topo.clusters !== 1 && !ctx.caps.flags.has('smp-clusters')) throw new ConfigUnsupportedError('Only 1 cluster per die is supported');
    s += `,sockets=${topo.sockets}`;
    if (ctx.caps.flags.has('smp-dies')) s += `,dies=${topo.dies}`;
    if (ctx.caps.flags.has('smp-clusters')) s += `,clusters=${topo.clusters}`;
    s += `,cores=${topo.cores},threads=${topo.threads}`;
  } else {
    s += `,sockets=${max},cores=1,threads=1`;
  }
  ctx.argv.add('-smp', s);
}

/** -rtc from <clock offset=...> and its rtc timer. */
function clockArgs(ctx: BuildContext): void {
  const clock = ctx.dom.clock;
  let rtc: string;
  switch (clock.offset) {
    case 'utc': rtc = 'base=utc'; break;
    case 'localtime': case 'timezone': rtc = 'base=localtime'; break;
    default: return unsupported(`<clock offset='${clock.offset}'>`);
  }
  const timer = clock.timers.find((t) => t.name === 'rtc');
  if (timer?.track === 'guest') rtc += ',clock=vm';
  else if (timer?.track === 'wall') rtc += ',clock=host';
  else if (timer?.track === 'realtime') rtc += ',clock=rt';
  if (timer?.tickpolicy === 'catchup') rtc += ',driftfix=slew';
  ctx.argv.add('-rtc', rtc);
  if (clock.offset === 'timezone' && clock.timezone) ctx.argv.setEnv('TZ', clock.timezone);
  for (const t of clock.timers) {
    if (t.name === 'pit' && (t.tickpolicy === undefined || t.tickpolicy === 'delay' || t.tickpolicy === 'discard')) {
      if (ctx.caps.flags.has('kvm-pit-lost-tick-policy')) ctx.argv.add('-global', `kvm-pit.lost_tick_policy=${t.tickpolicy ?? 'delay'}`);
    } else if (t.name === 'hpet' && t.present === 'no' && !ctx.caps.flags.has('machine-hpet')) {
      ctx.argv.add('-no-hpet');
    }
  }
}

/** -no-shutdown, -no-acpi (old QEMU), S3/S4. */
function pmArgs(ctx: BuildContext): void {
  const d = ctx.dom;
  const rebootAllowed = d.onReboot !== 'destroy' || d.onPoweroff !== 'destroy' ||
    (d.onCrash !== 'destroy' && d.onCrash !== 'coredump-destroy');
  ctx.argv.add(ctx.caps.flags.has('set-action') || rebootAllowed ? '-no-shutdown' : '-no-reboot');
  if (capsMachine(ctx)?.acpi === undefined && ['i686', 'x86_64', 'aarch64'].includes(ctx.arch) && featureState(ctx.dom, 'acpi') !== 'on') {
    ctx.argv.add('-no-acpi');
  }
  const pm = domainPm(ctx.dom);
  const obj = isQ35(ctx.machine, ctx.arch) ? 'ICH9-LPC' : 'PIIX4_PM';
  if (pm.s3) ctx.argv.add('-global', `${obj}.disable_s3=${pm.s3 === 'no' ? 1 : 0}`);
  if (pm.s4) ctx.argv.add('-global', `${obj}.disable_s4=${pm.s4 === 'no' ? 1 : 0}`);
}

function bootArgs(ctx: BuildContext): void {
  const boot = ctx.dom.os;
  let b = '';
  if (boot.bootmenu?.enable) b += `menu=${boot.bootmenu.enable === 'yes' ? 'on' : 'off'},`;
  if (boot.bios?.rebootTimeout !== undefined) b += `reboot-timeout=${boot.bios.rebootTimeout},`;
  if (boot.bootmenu?.timeout !== undefined) b += `splash-time=${boot.bootmenu.timeout},`;
  ctx.argv.add('-boot', `${b}strict=on`);
  if (boot.kernel !== undefined) ctx.argv.add('-kernel', boot.kernel);
  if (boot.initrd !== undefined) ctx.argv.add('-initrd', boot.initrd);
  if (boot.cmdline !== undefined) ctx.argv.add('-append', boot.cmdline);
  if (boot.dtb !== undefined) ctx.argv.add('-dtb', boot.dtb);
}

/** Everything up to and including -boot, except the parts between -rtc and -boot that devices own. */
export function buildHead(ctx: BuildContext): void {
  buildEnv(ctx);
  ctx.argv.add('-name', `guest=${escapeComma(ctx.dom.name)},debug-threads=on`);
  ctx.argv.add('-S');
  ctx.argv.object({ 'qom-type': 'secret', id: 'masterKey0', format: 'raw', file: ctx.profile.masterKeyPath });
  machineArgs(ctx, buildPflashBlockdevs(ctx));
  ctx.argv.add('-accel', accelOf(ctx));
  cpuArgs(ctx);
  buildLoaderArgs(ctx);
  memoryArgs(ctx);
  smpArgs(ctx);
  if (ctx.dom.uuid) ctx.argv.add('-uuid', ctx.dom.uuid);
  if (!ctx.dom.devices.some((d) => deviceName(d) === 'graphics')) {
    ctx.argv.add('-display', 'none');
  }
  ctx.argv.add('-no-user-config', '-nodefaults');
  ctx.argv.add('-chardev', ctx.profile.monitorChardev);
  ctx.argv.add('-mon', 'chardev=charmonitor,id=monitor,mode=control');
  clockArgs(ctx);
  pmArgs(ctx);
  bootArgs(ctx);
}

/** The tail: seccomp sandbox, panic devices and message timestamps. */
export function buildTail(ctx: BuildContext): void {
  if (ctx.caps.flags.has('seccomp-sandbox')) {
    ctx.argv.add('-sandbox', 'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny');
  }
  buildPanics(ctx);
  ctx.argv.add('-msg', 'timestamp=on');
}
