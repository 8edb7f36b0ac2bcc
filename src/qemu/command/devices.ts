// Device sections other than disks, NICs and host devices, in libvirt's order:
// controllers, character devices, input, audio, graphics, video, watchdog and
// the memory balloon. Small devices are read from their canonical XML, so the
// builder does not depend on how conf types each of them.
import type { Controller } from '../../conf/controller.js';
import type { Rng } from '../../conf/rng.js';
import { ConfigUnsupportedError, InternalError } from '../../util/errors.js';
import type { BuildContext } from './context.js';
import {
  addressProps, aliasOf, deviceAddressProps, deviceXml, devicesOf, infoOf, unsupported, virtioDriverName, virtioOptionProps, xmlChild,
} from './context.js';
import { hasBuiltinIde, isQ35 } from './domain.js';
import { type PropObject, positive, tristate } from './props.js';

// ---- controllers (qemuBuildControllersCommandLine) ----

/** libvirt adds controllers grouped by type, in this order. */
const CONTROLLER_ORDER = ['pci', 'usb', 'scsi', 'ide', 'sata', 'virtio-serial'] as const;

const USB_DRIVERS: Record<string, string> = {
  'piix3-uhci': 'piix3-usb-uhci', 'piix4-uhci': 'piix4-usb-uhci', ehci: 'usb-ehci', 'ich9-ehci1': 'ich9-usb-ehci1',
  'ich9-uhci1': 'ich9-usb-uhci1', 'ich9-uhci2': 'ich9-usb-uhci2', 'ich9-uhci3': 'ich9-usb-uhci3',
  'vt82c686b-uhci': 'vt82c686b-usb-uhci', 'pci-ohci': 'pci-ohci', 'nec-xhci': 'nec-usb-xhci', 'qemu-xhci': 'qemu-xhci',
};

/** The capability flag of each USB model where it is not the driver's name. */
const USB_CAPS: Record<string, string> = {
  'ich9-uhci1': 'ich9-usb-ehci1', 'ich9-uhci2': 'ich9-usb-ehci1', 'ich9-uhci3': 'ich9-usb-ehci1',
};

/** qemuBuildSkipController: controllers QEMU creates by itself. */
function skipController(ctx: BuildContext, c: Controller): boolean {
  if (c.type === 'pci' && (c.model === 'pcie-root' || c.model === 'pci-root')) return true;
  if (c.type === 'sata' && c.index === 0 && isQ35(ctx.machine, ctx.arch)) return true;
  if (c.type === 'ide' && c.index === 0 && hasBuiltinIde(ctx.machine, ctx.arch)) return true;
  return false;
}

function pciControllerProps(ctx: BuildContext, c: Controller): PropObject {
  const driver = c.modelName;
  if (!driver) throw new InternalError(`PCI controller ${c.index} has no model name`);
  const t = c.target ?? {};
  const id = aliasOf(ctx, c);
  switch (c.model) {
    case 'pci-bridge':
      return { driver, chassis_nr: t.chassisNr, id };
    case 'pci-expander-bus': case 'pcie-expander-bus':
      return { driver, bus_nr: t.busNr, id, numa_node: t.node };
    case 'dmi-to-pci-bridge': case 'pcie-switch-upstream-port': case 'pcie-to-pci-bridge':
      return { driver, id };
    case 'pcie-root-port': case 'pcie-switch-downstream-port':
      return { driver, port: t.port, chassis: t.chassis, id, hotplug: tristate(t.hotplug) };
    default:
      throw new InternalError(`Unexpected PCI controller model ${c.model ?? '(none)'}`);
  }
}

/** SCSI controller models and their QEMU devices (qemuBuildControllerSCSIDevProps). */
const SCSI_DRIVERS: Record<string, string> = {
  lsilogic: 'lsi', lsisas1068: 'mptsas1068', lsisas1078: 'megasas', vmpvscsi: 'pvscsi', am53c974: 'am53c974', dc390: 'dc390',
};

function scsiControllerProps(ctx: BuildContext, c: Controller): PropObject {
  const d = c.driver;
  if (d?.extra) unsupported('<controller type=\'scsi\'><driver> settings');
  const model = c.model ?? '';
  if (model === 'virtio-scsi' || model === 'virtio-transitional' || model === 'virtio-non-transitional') {
    return {
      driver: virtioDriverName(ctx, 'virtio-scsi', model === 'virtio-scsi' ? undefined : model, c.info),
      ...virtioOptionProps(d?.virtio),
      id: aliasOf(ctx, c),
      num_queues: d?.queues,
      cmd_per_lun: d?.cmd_per_lun,
      max_sectors: d?.max_sectors,
      ioeventfd: tristate(d?.ioeventfd),
      iothread: d?.iothread ? `iothread${d.iothread}` : undefined,
    };
  }
  const driver = SCSI_DRIVERS[model];
  if (!driver) return unsupported(`SCSI controller model '${model}'`);
  if (d) unsupported(`<driver> on a '${model}' SCSI controller`);
  return { driver, id: aliasOf(ctx, c) };
}

function controllerProps(ctx: BuildContext, c: Controller): PropObject | undefined {
  switch (c.type) {
    case 'pci':
      return pciControllerProps(ctx, c);
    case 'usb': {
      if (c.model === 'none') return undefined;
      if (c.model === undefined) throw new ConfigUnsupportedError('no model provided for USB controller');
      const driver = USB_DRIVERS[c.model];
      if (!driver) return unsupported(`USB controller model '${c.model}'`);
      if (!ctx.caps.flags.has(USB_CAPS[c.model] ?? driver)) {
        throw new ConfigUnsupportedError(`USB controller model '${c.model}' not supported in this QEMU binary`);
      }
      const props: PropObject = { driver, p2: c.ports, p3: c.ports };
      if (c.info.master) {
        const master = devicesOf<Controller>(ctx, 'controller').find((m) => m.type === 'usb' && m.index === c.index && !m.info.master);
        if (!master) throw new InternalError('masterbus not found');
        props.masterbus = `${aliasOf(ctx, master)}.0`;
        props.firstport = c.info.master.startport;
      } else {
        props.id = aliasOf(ctx, c);
      }
      return props;
    }
    case 'sata':
      return { driver: 'ahci', id: aliasOf(ctx, c) };
    case 'virtio-serial':
      return {
        driver: virtioDriverName(ctx, 'virtio-serial', c.model, c.info),
        id: aliasOf(ctx, c),
        max_ports: c.ports,
        vectors: c.vectors,
      };
    case 'scsi':
      return scsiControllerProps(ctx, c);
    default:
      throw new ConfigUnsupportedError(`Unsupported controller type: ${c.type}`);
  }
}

export function buildControllers(ctx: BuildContext): void {
  const controllers = devicesOf<Controller>(ctx, 'controller');
  for (const c of controllers) {
    if (c.type === 'pci' && c.pcihole64 !== undefined) {
      const host = c.model === 'pci-root' ? 'i440FX-pcihost' : c.model === 'pcie-root' ? 'q35-pcihost' : undefined;
      if (!host) throw new InternalError('64-bit PCI hole setting is only for root PCI controllers');
      ctx.argv.add('-global', `${host}.pci-hole64-size=${c.pcihole64}K`);
    }
  }
  for (const type of CONTROLLER_ORDER) {
    for (const c of controllers) {
      if (c.type !== type || skipController(ctx, c)) continue;
      const props = controllerProps(ctx, c);
      if (props) ctx.argv.device({ ...props, ...addressProps(ctx, c.info) });
    }
  }
}

// ---- input, audio, graphics, video ----

export function buildInputs(ctx: BuildContext): void {
  for (const d of devicesOf(ctx, 'input')) {
    const el = deviceXml(d);
    const bus = el.attrs.get('bus');
    const type = el.attrs.get('type') ?? '';
    if (bus === 'ps2' || bus === undefined) continue;
    if (bus !== 'usb') unsupported(`<input bus='${bus}'>`);
    const driver = { mouse: 'usb-mouse', tablet: 'usb-tablet', keyboard: 'usb-kbd' }[type];
    if (!driver) unsupported(`<input type='${type}' bus='usb'>`);
    ctx.argv.device({ driver, id: aliasOf(ctx, d), ...deviceAddressProps(ctx, d) });
  }
}

export function buildVideos(ctx: BuildContext): void {
  devicesOf(ctx, 'video').forEach((d, i) => {
    const el = deviceXml(d);
    const model = xmlChild(el, 'model');
    const type = model?.attrs.get('type') ?? '';
    if (type === 'none') return;
    const primary = i === 0 || model?.attrs.get('primary') === 'yes';
    const num = (k: string) => {
      const v = model?.attrs.get(k);
      return v === undefined ? 0 : Number(v);
    };
    const heads = num('heads');
    let props: PropObject;
    switch (type) {
      case 'qxl':
        props = {
          driver: primary ? 'qxl-vga' : 'qxl',
          id: aliasOf(ctx, d),
          max_outputs: positive(heads),
          ram_size: positive(num('ram') * 1024),
          vram_size: positive(num('vram') * 1024),
          vram64_size_mb: ctx.caps.flags.has('qxl.vram64_size_mb') ? Math.floor(num('vram64') / 1024) : undefined,
          vgamem_mb: ctx.caps.flags.has('qxl.vgamem_mb') ? Math.floor(num('vgamem') / 1024) : undefined,
        };
        break;
      case 'vga': case 'cirrus': case 'vmvga': case 'bochs': case 'ramfb': {
        const driver = { vga: 'VGA', cirrus: 'cirrus-vga', vmvga: 'vmware-svga', bochs: 'bochs-display', ramfb: 'ramfb' }[type];
        const vgamem = (type === 'vga' && ctx.caps.flags.has('VGA.vgamem_mb')) || (type === 'vmvga' && ctx.caps.flags.has('vmware-svga.vgamem_mb'));
        props = { driver, id: aliasOf(ctx, d), vgamem_mb: vgamem ? positive(Math.floor(num('vram') / 1024)) : undefined };
        if (type === 'bochs') props.vgamem = positive(num('vram') * 1024);
        break;
      }
      default:
        return unsupported(`<video><model type='${type}'>`);
    }
    ctx.argv.device({ ...props, ...addressProps(ctx, infoOf(d)) });
  });
}

// ---- watchdog, memory balloon ----

export function buildWatchdogs(ctx: BuildContext): void {
  const dogs = devicesOf(ctx, 'watchdog').map((d) => ({ d, el: deviceXml(d) }));
  if (dogs.length === 0) return;
  let itco = false;
  for (const { d, el } of dogs) {
    const model = el.attrs.get('model') ?? '';
    if (model === 'itco') {
      itco = true;
      continue;
    }
    ctx.argv.device({ driver: model, id: aliasOf(ctx, d), ...addressProps(ctx, infoOf(d)) });
  }
  if (itco) ctx.argv.add('-global', 'ICH9-LPC.noreboot=off');
  const action = dogs[dogs.length - 1].el.attrs.get('action') ?? 'reset';
  ctx.argv.add('-watchdog-action', action === 'dump' ? 'pause' : action);
}

export function buildMemballoon(ctx: BuildContext): void {
  for (const d of devicesOf(ctx, 'memballoon')) {
    const el = deviceXml(d);
    const model = el.attrs.get('model') ?? '';
    if (model === 'none') continue;
    if (!model.startsWith('virtio')) unsupported(`<memballoon model='${model}'>`);
    const driver = xmlChild(el, 'driver');
    ctx.argv.device({
      driver: virtioDriverName(ctx, 'virtio-balloon', model, infoOf(d)),
      iommu_platform: tristate(driver?.attrs.get('iommu')),
      ats: tristate(driver?.attrs.get('ats')),
      packed: tristate(driver?.attrs.get('packed')),
      'page-per-vq': tristate(driver?.attrs.get('page_per_vq')),
      id: aliasOf(ctx, d),
      'deflate-on-oom': tristate(el.attrs.get('autodeflate')),
      'free-page-reporting': tristate(el.attrs.get('freePageReporting')),
      ...addressProps(ctx, infoOf(d)),
    });
  }
}

/** qemuBuildRNGCommandLine: the backend object, then the virtio-rng device. */
export function buildRngs(ctx: BuildContext): void {
  for (const rng of devicesOf<Rng>(ctx, 'rng')) {
    const alias = aliasOf(ctx, rng);
    const id = `obj${alias}`;
    switch (rng.backend.model) {
      case 'random': ctx.argv.object({ 'qom-type': 'rng-random', id, filename: rng.backend.file }); break;
      case 'builtin': ctx.argv.object({ 'qom-type': 'rng-builtin', id }); break;
      default: unsupported(`<rng><backend model='${rng.backend.model}'>`);
    }
    const bytes = rng.rate?.bytes ?? 0;
    ctx.argv.device({
      driver: virtioDriverName(ctx, 'virtio-rng', rng.model, rng.info),
      ...virtioOptionProps(rng.driver?.virtio),
      rng: id,
      id: alias,
      'max-bytes': positive(bytes),
      period: bytes > 0 ? rng.rate?.period || 1000 : undefined,
      ...addressProps(ctx, rng.info),
    });
  }
}

/** Device kinds the builder does not handle: refused rather than silently left out. */
export const UNSUPPORTED_DEVICES = [
  'lease', 'filesystem', 'smartcard', 'nvram', 'shmem',
  'memory', 'iommu', 'vsock', 'crypto', 'pstore',
] as const;

export function checkUnsupportedDevices(ctx: BuildContext): void {
  for (const kind of UNSUPPORTED_DEVICES) if (devicesOf(ctx, kind).length) unsupported(`<${kind}>`);
}
