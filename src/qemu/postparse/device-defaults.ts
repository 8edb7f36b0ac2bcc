// Per-device post-parse: the QEMU driver's defaults (qemuDomainDeviceDefPostParse)
// followed by the generic ones (virDomainDeviceDefPostParseCommon), for the
// device kinds we model.
import type { DriveAddress } from '../../conf/address.js';
import type { Chardev } from '../../conf/chardev.js';
import type { Controller } from '../../conf/controller.js';
import type { Device } from '../../conf/devices.js';
import { type Disk, type DiskBus, diskNameToIndex } from '../../conf/disk.js';
import type { Domain } from '../../conf/domain.js';
import type { Input } from '../../conf/input.js';
import type { Interface } from '../../conf/interface.js';
import type { Sound } from '../../conf/sound.js';
import type { Video, VideoModel, VideoType } from '../../conf/video.js';
import { ConfigUnsupportedError, InternalError, XmlError } from '../../util/errors.js';
import { type QemuCaps, hasFlag } from '../caps/index.js';
import { defaultUsbModel } from './devices.js';
import { isX86 } from './machine-type.js';

export interface DeviceDefaultsOptions {
  /**
   * The actual type of an <interface type='network'> once its network is looked up
   * ('hostdev' for a pool of VFs). Unknown networks count as not hostdev.
   */
  resolveNetworkType?: (net: Interface) => string | undefined;
}

/** qemuDomainDefaultNetModel for x86: the first emulated NIC this QEMU has. */
function defaultNetModel(caps: QemuCaps): string {
  if (hasFlag(caps, 'rtl8139')) return 'rtl8139';
  if (hasFlag(caps, 'e1000')) return 'e1000';
  if (hasFlag(caps, 'virtio-net')) return 'virtio';
  return 'rtl8139';
}

function netPostParse(n: Interface, caps: QemuCaps, o: DeviceDefaultsOptions): void {
  if ((n.type === 'vdpa' || n.type === 'vhostuser') && !n.model) {
    n.model = { type: 'virtio' };
  } else if (n.type !== 'hostdev' && !n.model) {
    const actual = n.type === 'network' ? o.resolveNetworkType?.(n) : n.type;
    if (actual !== 'hostdev') n.model = { type: defaultNetModel(caps) };
  }
}

/** virDomainDiskDefAssignAddress: the drive address implied by the target name. */
function assignDriveAddress(disk: Disk): void {
  const dst = disk.target.dev!;
  const idx = diskNameToIndex(dst);
  if (idx === undefined) throw new XmlError(`Unknown disk name '${dst}' and no address specified`);
  const drive = (controller: number, bus: number, unit: number): DriveAddress => ({ type: 'drive', controller, bus, target: 0, unit });
  switch (disk.target.bus) {
    case 'scsi': {
      // Wide SCSI: 15 usable units per controller, unit 7 being the HBA itself.
      let unit = idx % 15;
      if (unit >= 7) unit++;
      disk.info.address = drive(Math.floor(idx / 15), 0, unit);
      break;
    }
    case 'fdc':
      disk.info.address = drive(Math.floor(idx / 2), 0, idx % 2);
      break;
    case 'ide':
      disk.info.address = drive(Math.floor(idx / 4), Math.floor((idx % 4) / 2), idx % 2);
      break;
    case 'sata':
      disk.info.address = drive(Math.floor(idx / 6), 0, idx % 6);
      break;
    default:
      break; // other buses are not controller based
  }
}

const BUS_BY_PREFIX: [string, DiskBus][] = [['hd', 'ide'], ['sd', 'scsi'], ['vd', 'virtio'], ['xvd', 'xen'], ['ubd', 'uml']];

function diskPostParse(disk: Disk): void {
  // qemuDomainDeviceDiskDefPostParse
  const drv = (disk.driver ??= {});
  drv.name ??= 'qemu';
  if (drv.type === undefined && disk.type !== 'volume') drv.type = 'raw';
  // virDomainDiskDefPostParse
  if (disk.device === 'cdrom') disk.readonly = true;
  if (disk.target.bus === undefined) {
    let bus: DiskBus = 'ide';
    if (disk.device === 'floppy') bus = 'fdc';
    else if (disk.target.dev) bus = BUS_BY_PREFIX.find(([p]) => disk.target.dev!.startsWith(p))?.[1] ?? 'ide';
    disk.target.bus = bus;
  }
  if (disk.info.address === undefined && disk.target.dev) assignDriveAddress(disk);
}

/** virDomainVideoDefaultRAM (KiB) */
function defaultVideoRam(dom: Domain, type: VideoType): number {
  switch (type) {
    case 'vga':
    case 'cirrus':
    case 'vmvga':
      return dom.type === 'vbox' ? 8 * 1024 : dom.type === 'vmware' ? 4 * 1024 : 16 * 1024;
    case 'bochs':
      return 16 * 1024;
    case 'xen':
      return 4 * 1024;
    case 'qxl':
      return 64 * 1024;
    default:
      return 0;
  }
}

function roundUpPow2(n: number): number {
  if (n <= 0) return 0;
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** qemuDomainDefaultVideoDevice for x86. */
export function defaultVideoType(caps: QemuCaps): VideoType {
  if (hasFlag(caps, 'cirrus-vga')) return 'cirrus';
  if (hasFlag(caps, 'VGA')) return 'vga';
  return 'default';
}

export function videoPostParse(v: Video, dom: Domain, caps: QemuCaps): void {
  const m: VideoModel = v.model;
  if (m.type === 'default') m.type = defaultVideoType(caps);
  if (m.type === 'qxl' && !m.vgamem) m.vgamem = 16 * 1024;
  if (!m.ram && m.type === 'qxl') m.ram = defaultVideoRam(dom, m.type);
  if (!m.vram) m.vram = defaultVideoRam(dom, m.type);
  if (m.ram) m.ram = roundUpPow2(m.ram);
  if (m.vram) m.vram = roundUpPow2(m.vram);
  if (m.type !== 'none') m.heads ||= 1;
}

const QEMU_USB_XHCI_MAXPORTS = 15;

function controllerPostParse(c: Controller, dom: Domain, caps: QemuCaps): void {
  switch (c.type) {
    case 'scsi':
      if (c.model === undefined || c.model === 'auto') {
        if (hasFlag(caps, 'lsi')) c.model = 'lsilogic';
        else if (hasFlag(caps, 'virtio-scsi-pci')) c.model = 'virtio-scsi';
        else throw new InternalError(`Unable to determine model for SCSI controller idx=${c.index}`);
      }
      break;
    case 'usb':
      if (c.model === undefined) {
        const model = defaultUsbModel(dom.os.machine, caps);
        if (model) c.model = model;
      }
      if (c.model === 'none') delete c.info.address;
      if (c.model === 'qusb1' || c.model === 'qusb2') {
        throw new ConfigUnsupportedError(`USB controller model type 'qusb1' or 'qusb2' is not supported in ${dom.type}`);
      }
      if ((c.model === 'nec-xhci' || c.model === 'qemu-xhci') && (c.ports ?? 0) > QEMU_USB_XHCI_MAXPORTS) {
        throw new ConfigUnsupportedError(`'${c.model}' controller only supports up to '${QEMU_USB_XHCI_MAXPORTS}' ports`);
      }
      break;
    case 'pci':
      if ((c.model === 'pci-root' || c.model === 'pcie-root') && c.index !== 0) {
        throw new XmlError('pci-root and pcie-root controllers should have index 0');
      }
      if (c.model === 'pci-expander-bus' && !/^pc$|^pc-(i440fx-|0\.|1\.)|^rhel/.test(dom.os.machine ?? '')) {
        throw new ConfigUnsupportedError('pci-expander-bus controllers are only supported on 440fx-based machinetypes');
      }
      if (c.model === 'pcie-expander-bus' && !/^q35$|^pc-q35-/.test(dom.os.machine ?? '')) {
        throw new ConfigUnsupportedError('pcie-expander-bus controllers are not supported with this machine type');
      }
      break;
    default:
      break;
  }
}

/** qemuDomainChrDefPostParse + virDomainChrDefPostParse */
function chrPostParse(c: Chardev, dom: Domain): void {
  const t = c.target;
  if (c.kind === 'serial') {
    if (t.type === 'isa-serial') delete t.type; // the historical default, re-derived below
    if (t.type === undefined && isX86(dom.os.arch)) t.type = 'isa-serial';
    if (t.model === undefined) {
      const model = SERIAL_MODEL_BY_TYPE[t.type ?? ''];
      if (model) t.model = model;
    }
  }
  if (c.kind === 'console' && t.type === undefined) t.type = 'serial';
  if (c.kind === 'serial' && t.type === 'isa-debug' && !isX86(dom.os.arch)) {
    throw new ConfigUnsupportedError('isa-debug serial type only valid on x86 architecture');
  }
  // A guest-agent style socket path libvirt generated is dropped from the definition,
  // and a UNIX socket without a path is one libvirt creates, so it listens.
  const src = c.source;
  if (c.kind === 'channel' && t.type === 'virtio' && src.type === 'unix' && src.path && t.name) {
    const esc = (x: string) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    // libvirt's pattern, alternation precedence included.
    const re = new RegExp(`^${esc(CHANNEL_TARGET_DIR)}/([^/]+\\.)|(domain-[^/]+/)${esc(t.name)}$`);
    if (re.test(src.path)) delete src.path;
  }
  if (src.type === 'unix' && !src.path) src.mode = 'bind';
  if (t.port === -1 && (c.kind === 'parallel' || c.kind === 'serial' || c.kind === 'console')) {
    const same = dom.devices.filter((d) => d.kind === c.kind) as Chardev[];
    t.port = Math.max(-1, ...same.map((x) => x.target.port)) + 1;
  }
}

/** The QEMU driver's channel_target_dir default. */
const CHANNEL_TARGET_DIR = '/var/lib/libvirt/qemu/channel/target';

const SERIAL_MODEL_BY_TYPE: Record<string, string> = {
  'isa-serial': 'isa-serial',
  'usb-serial': 'usb-serial',
  'pci-serial': 'pci-serial',
  'spapr-vio-serial': 'spapr-vty',
  'sclp-serial': 'sclpconsole',
  'isa-debug': 'isa-debugcon',
};

function inputPostParse(i: Input, dom: Domain): void {
  if (i.bus !== undefined || dom.os.type !== 'hvm') return;
  if ((i.type === 'mouse' || i.type === 'keyboard') && (isX86(dom.os.arch) || dom.os.arch === undefined)) i.bus = 'ps2';
  else if (i.type === 'passthrough') i.bus = 'virtio';
  else if (i.type === 'evdev') i.bus = 'none';
  else i.bus = 'usb';
}

/** The post-parse of one device (driver callback first, then the generic part). */
export function devicePostParse(d: Device, dom: Domain, caps: QemuCaps, o: DeviceDefaultsOptions): void {
  switch (d.kind) {
    case 'interface':
      netPostParse(d as Interface, caps, o);
      break;
    case 'disk':
      diskPostParse(d as Disk);
      break;
    case 'video':
      videoPostParse(d as Video, dom, caps);
      break;
    case 'controller':
      controllerPostParse(d as Controller, dom, caps);
      break;
    case 'serial':
    case 'parallel':
    case 'console':
    case 'channel':
      chrPostParse(d as Chardev, dom);
      break;
    case 'input':
      inputPostParse(d as Input, dom);
      break;
    case 'sound': {
      const s = d as Sound;
      if (s.model === 'virtio' && !s.streams) s.streams = 2;
      break;
    }
    default:
      break;
  }
}
