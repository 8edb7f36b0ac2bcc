// <os>: guest type, arch, machine, firmware, loader/nvram, direct kernel
// boot, boot order and BIOS settings (libvirt's virDomainOSDef), with its
// define-time checks. Elements we do not model (container <init*>, ...) are
// kept as written at libvirt's position.
import { ConfigUnsupportedError, XmlDetailError, XmlError } from '../util/errors.js';
import type { ElementReader, Extra, XmlElement, XmlWriter } from '../util/xml.js';
import { attrsOf, orderedChildren } from './children.js';
import type { YesNo } from './common.js';
import { propEnum, propInt, propUInt, propYesNo } from './props.js';

export const OS_TYPES = ['hvm', 'xen', 'linux', 'exe', 'uml', 'xenpvh'] as const;
export type OsType = (typeof OS_TYPES)[number];
export const BOOT_DEVS = ['fd', 'cdrom', 'hd', 'network'] as const;
export type BootDev = (typeof BOOT_DEVS)[number];
export const OS_FIRMWARES = ['none', 'bios', 'efi'] as const;
export type OsFirmware = Exclude<(typeof OS_FIRMWARES)[number], 'none'>;
export const FIRMWARE_FEATURES = ['enrolled-keys', 'secure-boot'] as const;
export type FirmwareFeature = (typeof FIRMWARE_FEATURES)[number];
export const LOADER_TYPES = ['none', 'rom', 'pflash'] as const;
export const LOADER_FORMATS = ['raw', 'qcow2'] as const;
export const SMBIOS_MODES = ['none', 'emulate', 'host', 'sysinfo'] as const;
export const ACPI_TABLE_TYPES = ['raw', 'rawset', 'slic', 'msdm'] as const;

export interface Loader {
  readonly?: YesNo;
  secure?: YesNo;
  /** rom | pflash; post-parse makes a loader with a path 'rom' */
  type?: string;
  stateless?: YesNo;
  /** raw | qcow2 (post-parse sets it when the firmware is known) */
  format?: string;
  path?: string;
  extra?: Extra;
}

export interface Nvram {
  template?: string;
  /** raw | qcow2: the template's format */
  templateFormat?: string;
  format?: string;
  /** the legacy text form: <nvram>/path</nvram> */
  path?: string;
  /** the storage form: <nvram type='file'><source .../></nvram>, kept as written */
  type?: string;
  source?: XmlElement;
  extra?: Extra;
}

export interface Os {
  type: OsType;
  /** absent until post-parse (libvirt falls back to the host's arch) */
  arch?: string;
  /** machine type as written (e.g. 'pc', 'q35', 'pc-q35-9.2'); post-parse canonicalises it */
  machine?: string;
  typeExtra?: Extra;
  firmware?: OsFirmware;
  firmwareFeatures?: Partial<Record<FirmwareFeature, YesNo>>;
  loader?: Loader;
  nvram?: Nvram;
  kernel?: string;
  initrd?: string;
  cmdline?: string;
  /** the UEFI shim for direct kernel boot under SEV */
  shim?: string;
  dtb?: string;
  root?: string;
  acpiTables?: { type: string; path: string }[];
  boot: BootDev[];
  bootmenu?: { enable?: YesNo; timeout?: number };
  bios?: { useserial?: YesNo; rebootTimeout?: number };
  smbios?: string;
  extra?: Extra;
}

/** virXPathString: the text of the first such child, or undefined when missing/empty. */
function textOf(r: ElementReader, name: string): string | undefined {
  const el = r.child(name);
  const t = el?.text();
  return t === undefined || t === '' ? undefined : t;
}

/**
 * virDomainDefParseCaps (type, arch, machine) + virDomainDefParseBootOptions.
 * `os` is the <os> element (or undefined), `virtType` the domain type,
 * `bootloader` whether <bootloader> is present (a Xen PV guest needs no <os>).
 */
export function parseOs(os: ElementReader | undefined, virtType: string, bootloader: boolean): Os {
  const typeEl = os?.firstChild('type');
  const typeText = typeEl?.text() || undefined;
  let type: OsType;
  if (typeText === undefined) {
    if (!bootloader) throw new XmlError('an os <type> must be specified');
    type = 'xen';
  } else {
    if (!(OS_TYPES as readonly string[]).includes(typeText)) throw new ConfigUnsupportedError(`unknown OS type '${typeText}'`);
    type = typeText as OsType;
  }
  if (type === 'linux' && virtType === 'xen') type = 'xen'; // libvirt's xen back-compat
  const o: Os = { type, boot: [] };
  const arch = typeEl?.attr('arch') || undefined;
  const machine = typeEl?.attr('machine') || undefined;
  if (arch !== undefined) o.arch = arch;
  if (machine !== undefined) o.machine = machine;
  const typeExtra = typeEl?.rest();
  if (typeExtra) o.typeExtra = typeExtra;
  if (!os) return o;

  if (type === 'hvm' || type === 'xen' || type === 'xenpvh' || type === 'uml') {
    for (const name of ['kernel', 'initrd', 'cmdline', 'shim', 'dtb', 'root'] as const) {
      const v = textOf(os, name);
      if (v !== undefined) o[name] = v;
    }
    parseLoader(os, o);
  }
  if (type === 'hvm') {
    parseFirmware(os, o);
    parseAcpi(os, o);
    parseBoot(os, o);
  }
  parseSmbios(os, o);
  const extra = os.rest();
  if (extra) o.extra = extra;
  return o;
}

function parseFirmware(os: ElementReader, o: Os): void {
  const firmware = os.attr('firmware');
  const fw = os.child('firmware');
  const features = fw?.children('feature') ?? [];
  // features without firmware='...' are ignored when defining (libvirt's migration kludge)
  if (features.length > 0 && !firmware) return;
  if (features.length > 0) {
    o.firmwareFeatures = {};
    for (const f of features) {
      const name = propEnum(f, 'name', FIRMWARE_FEATURES, { required: true })!;
      o.firmwareFeatures[name] = propYesNo(f, 'enabled', { required: true })!;
    }
  }
  if (!firmware) return;
  const i = (OS_FIRMWARES as readonly string[]).indexOf(firmware);
  if (i <= 0) throw new XmlError(`unknown firmware value ${firmware}`);
  o.firmware = firmware as OsFirmware;
}

function parseLoader(os: ElementReader, o: Os): void {
  const loader = os.child('loader');
  const nvram = os.child('nvram');
  if (nvram) {
    const n: Nvram = {};
    const template = nvram.attr('template');
    if (template !== undefined) n.template = template;
    const format = nvram.attr('format');
    if (format !== undefined) {
      if (format !== 'raw' && format !== 'qcow2') throw new XmlError(`Unsupported nvram format '${format}'`);
      n.format = format;
    }
    const templateFormat = nvram.attr('templateFormat');
    if (templateFormat !== undefined) {
      if (templateFormat !== 'raw' && templateFormat !== 'qcow2') throw new XmlError(`Unsupported nvram template format '${templateFormat}'`);
      n.templateFormat = templateFormat;
    }
    const type = nvram.attr('type');
    if (type === undefined) {
      const path = nvram.el.children.length === 0 ? nvram.text() : '';
      if (path !== '') n.path = path;
    } else {
      n.type = type;
      const source = nvram.firstChild('source');
      if (source) n.source = source.el;
    }
    const extra = nvram.rest();
    if (extra) n.extra = extra;
    o.nvram = n;
  }
  if (loader) {
    const l: Loader = {};
    const set = <K extends keyof Loader>(k: K, v: Loader[K] | undefined) => v !== undefined && (l[k] = v);
    set('readonly', propYesNo(loader, 'readonly'));
    const type = propEnum(loader, 'type', LOADER_TYPES, { nonzero: true });
    set('type', type);
    if (loader.text() !== '') l.path = loader.text();
    set('secure', propYesNo(loader, 'secure'));
    set('stateless', propYesNo(loader, 'stateless'));
    const format = loader.attr('format');
    if (format !== undefined) {
      if (format !== 'raw' && format !== 'qcow2') throw new XmlError(`Unsupported loader format '${format}'`);
      l.format = format;
    }
    const extra = loader.rest();
    if (extra) l.extra = extra;
    o.loader = l;
  }
  if (!loader && o.nvram?.format) o.loader = { format: o.nvram.format }; // libvirt copies it to the loader
  if (o.loader?.format && o.nvram?.format && o.loader.format !== o.nvram.format) {
    throw new XmlError(`Format mismatch: loader.format='${o.loader.format}' nvram.format='${o.nvram.format}'`);
  }
}

function parseAcpi(os: ElementReader, o: Os): void {
  const acpi = os.child('acpi');
  if (!acpi) return;
  const tables = acpi.children('table');
  for (const t of tables) {
    const type = t.attr('type');
    if (type === undefined) throw new XmlError('Missing acpi table type');
    if (!(ACPI_TABLE_TYPES as readonly string[]).includes(type)) throw new XmlError(`Unknown acpi table type: ${type}`);
    (o.acpiTables ??= []).push({ type, path: t.text() });
  }
}

function parseBoot(os: ElementReader, o: Os): void {
  const boots = os.children('boot');
  for (const b of boots.slice(0, BOOT_DEVS.length)) o.boot.push(propEnum(b, 'dev', BOOT_DEVS, { required: true })!);
  const menu = os.child('bootmenu');
  if (menu) {
    const enable = propYesNo(menu, 'enable');
    o.bootmenu = {};
    if (enable) o.bootmenu.enable = enable;
    const timeout = enable === 'yes' ? propUInt(menu, 'timeout') : (menu.attr('timeout'), undefined);
    if (timeout !== undefined) o.bootmenu.timeout = timeout;
  }
  const bios = os.child('bios');
  if (bios) {
    o.bios = {};
    const raw = bios.attr('useserial'); // a bad value reads as 'no' in libvirt
    if (raw !== undefined) o.bios.useserial = raw === 'yes' ? 'yes' : 'no'; // written back as given
    const rt = propInt(bios, 'rebootTimeout');
    if (rt !== undefined) o.bios.rebootTimeout = rt;
  }
}

function parseSmbios(os: ElementReader, o: Os): void {
  const mode = os.child('smbios')?.attr('mode');
  if (mode === undefined || mode === '') return;
  if (!(SMBIOS_MODES as readonly string[]).includes(mode)) throw new ConfigUnsupportedError(`unknown smbios mode '${mode}'`);
  if (mode !== 'none') o.smbios = mode;
}

const OS_CHILD_ORDER = [
  'type', 'firmware', 'init', 'initarg', 'initenv', 'initdir', 'inituser', 'initgroup', 'loader', 'nvram', 'kernel',
  'initrd', 'cmdline', 'shim', 'dtb', 'root', 'acpi', 'boot', 'bootmenu', 'bios', 'smbios',
] as const;

/** The <os> part of virDomainDefFormatInternal; `virtType` for the xen 'linux' spelling. */
export function formatOs(w: XmlWriter, o: Os, virtType: string): void {
  w.open('os', [['firmware', o.firmware]], attrsOf(o.extra));
  orderedChildren(w, OS_CHILD_ORDER, {
    type: () => w.textElement('type', virtType === 'xen' && o.type === 'xen' ? 'linux' : o.type, [['arch', o.arch], ['machine', o.machine]], o.typeExtra),
    firmware: () => {
      const f = o.firmwareFeatures;
      if (!f || Object.keys(f).length === 0) return;
      w.open('firmware');
      for (const name of FIRMWARE_FEATURES) if (f[name]) w.empty('feature', [['enabled', f[name]], ['name', name]]);
      w.close('firmware');
    },
    loader: () => {
      const l = o.loader;
      if (!l) return;
      const attrs: [string, string | undefined][] = [
        ['readonly', l.readonly], ['secure', l.secure], ['type', l.type], ['stateless', l.stateless],
        ['format', l.format],
      ];
      if (l.path !== undefined) w.textElement('loader', l.path, attrs, l.extra);
      else if (attrs.some(([, v]) => v !== undefined) || l.extra) w.empty('loader', attrs, l.extra);
    },
    nvram: () => {
      const n = o.nvram;
      if (!n) return;
      const format = n.format;
      const head: [string, string | undefined][] = [['template', n.template], ['templateFormat', n.templateFormat]];
      if (n.type !== undefined) {
        w.element('nvram', [...head, ['type', n.type], ['format', format]], () => {
          if (n.source) w.raw(n.source);
          w.extraChildren(n.extra);
        }, attrsOf(n.extra));
      } else if (n.path !== undefined) {
        w.textElement('nvram', n.path, [...head, ['format', format]], n.extra);
      } else if (n.template !== undefined || n.templateFormat !== undefined || format !== undefined || n.extra) {
        w.empty('nvram', [...head, ['format', format]], n.extra);
      }
    },
    kernel: () => w.textElement('kernel', o.kernel),
    initrd: () => w.textElement('initrd', o.initrd),
    cmdline: () => w.textElement('cmdline', o.cmdline),
    shim: () => w.textElement('shim', o.shim),
    dtb: () => w.textElement('dtb', o.dtb),
    root: () => w.textElement('root', o.root),
    acpi: () => {
      if (!o.acpiTables?.length) return;
      w.open('acpi');
      for (const t of o.acpiTables) w.textElement('table', t.path, [['type', t.type]]);
      w.close('acpi');
    },
    boot: () => o.boot.forEach((dev) => w.empty('boot', [['dev', dev]])),
    bootmenu: () => {
      const m = o.bootmenu;
      if (m?.enable) w.empty('bootmenu', [['enable', m.enable], ['timeout', m.timeout]]);
    },
    bios: () => {
      const b = o.bios;
      if (b && (b.useserial !== undefined || b.rebootTimeout !== undefined)) {
        w.empty('bios', [['useserial', b.useserial], ['rebootTimeout', b.rebootTimeout]]);
      }
    },
    smbios: () => o.smbios && w.empty('smbios', [['mode', o.smbios]]),
  }, o.extra);
  w.close('os');
}

/** virDomainDefOSValidate + virDomainDefBootValidate (firmware auto-selection is supported, as in QEMU). */
export function validateOs(o: Os): void {
  const l = o.loader;
  if (o.firmware) {
    if (o.firmwareFeatures?.['enrolled-keys'] === 'yes' && o.firmwareFeatures['secure-boot'] === 'no') {
      throw new XmlDetailError("firmware feature 'enrolled-keys' cannot be enabled when firmware feature 'secure-boot' is disabled");
    }
    if (o.nvram && o.firmware !== 'efi') {
      throw new XmlDetailError(`firmware type '${o.firmware}' does not support nvram`);
    }
  } else {
    if (o.firmwareFeatures) {
      throw new XmlDetailError('cannot use feature-based firmware autoselection when firmware autoselection is disabled');
    }
    if ((l || o.nvram) && l?.path === undefined) {
      throw new XmlDetailError('no loader path specified and firmware auto selection disabled');
    }
  }
  if (l || o.nvram) {
    if (l?.stateless === 'yes') {
      if (o.nvram?.template !== undefined) throw new XmlDetailError('NVRAM template is not permitted when loader is stateless');
      if (o.nvram) throw new XmlDetailError('NVRAM is not permitted when loader is stateless');
    } else if (l?.stateless === 'no') {
      if (!o.firmware) {
        if (l.type !== 'pflash') throw new XmlDetailError('Only pflash loader type permits NVRAM');
      } else if (o.firmware !== 'efi') {
        throw new XmlDetailError('Only EFI firmware permits NVRAM');
      }
    }
  }
  if (o.bootmenu?.timeout !== undefined && o.bootmenu.timeout > 65535) {
    throw new ConfigUnsupportedError('invalid value for boot menu timeout, must be in range [0,65535]');
  }
  const rt = o.bios?.rebootTimeout;
  if (rt !== undefined && (rt < -1 || rt > 65535)) {
    throw new ConfigUnsupportedError('invalid value for rebootTimeout, must be in range [-1,65535]');
  }
}
