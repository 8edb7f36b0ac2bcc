// Firmware on the command line (qemuBuildPflashBlockdevCommandLine,
// qemuBuildDomainLoaderCommandLine): a ROM loader is -bios; a pflash loader and its
// NVRAM are block nodes named on -machine (pflash0/pflash1), with the secure flag as a
// -global. Post-parse has already resolved <os firmware='...'> to a loader and NVRAM.
import { ConfigUnsupportedError, OperationFailedError } from '../../util/errors.js';
import type { BuildContext } from './context.js';
import { unsupported } from './context.js';

/** The -machine pflash0=/pflash1= node names, after the block nodes are on the command line. */
export interface PflashNodes {
  pflash0?: string;
  pflash1?: string;
}

function isPflash(ctx: BuildContext): boolean {
  const l = ctx.dom.os.loader;
  return l?.path !== undefined && l.type === 'pflash';
}

/** -blockdev for the pflash loader (always with a format node) and the NVRAM image. */
export function buildPflashBlockdevs(ctx: BuildContext): PflashNodes {
  const os = ctx.dom.os;
  const loader = os.loader;
  if (!loader || loader.path === undefined) {
    // Autoselection found no descriptor for what the XML asks (qemuFirmwareFillDomain at start).
    if (os.firmware) throw new OperationFailedError(`Unable to find '${os.firmware}' firmware that is compatible with the current configuration`);
    if (os.nvram || loader?.type === 'pflash') unsupported('<os><loader> without a path');
    return {};
  }
  if (loader.type !== undefined && loader.type !== 'rom' && loader.type !== 'pflash') unsupported(`<loader type='${loader.type}'>`);
  if (!isPflash(ctx)) {
    if (os.nvram) throw new ConfigUnsupportedError('NVRAM is only supported with a pflash loader');
    return {};
  }
  const nodes: PflashNodes = {};
  const format = loader.format ?? 'raw';
  ctx.argv.blockdev({ driver: 'file', filename: loader.path, 'node-name': 'libvirt-pflash0-storage', 'auto-read-only': true, discard: 'unmap' });
  ctx.argv.blockdev({
    'node-name': 'libvirt-pflash0-format', 'read-only': loader.readonly === 'yes', driver: format, file: 'libvirt-pflash0-storage',
    backing: format === 'qcow2' ? null : undefined,
  });
  nodes.pflash0 = 'libvirt-pflash0-format';
  const nvram = os.nvram;
  if (nvram && loader.stateless !== 'yes') {
    const path = nvram.path ?? (nvram.type === 'file' ? nvram.source?.attrs.get('file') : undefined);
    if (path === undefined) {
      if (os.firmware && nvram.type === undefined) {
        throw new OperationFailedError(`Unable to find '${os.firmware}' firmware that is compatible with the current configuration`);
      }
      return unsupported(`<nvram type='${nvram.type ?? ''}'>`);
    }
    const nvFormat = nvram.format ?? 'raw';
    // Like disks: a raw image needs no format node when QEMU activates block nodes itself.
    const formatNode = nvFormat !== 'raw' || !ctx.caps.flags.has('blockdev-set-active');
    ctx.argv.blockdev(formatNode
      ? { driver: 'file', filename: path, 'node-name': 'libvirt-pflash1-storage', 'auto-read-only': true, discard: 'unmap' }
      : { driver: 'file', filename: path, 'node-name': 'libvirt-pflash1-storage', 'read-only': false });
    if (formatNode) {
      ctx.argv.blockdev({
        'node-name': 'libvirt-pflash1-format', 'read-only': false, driver: nvFormat, file: 'libvirt-pflash1-storage',
        backing: nvFormat === 'qcow2' ? null : undefined,
      });
    }
    nodes.pflash1 = formatNode ? 'libvirt-pflash1-format' : 'libvirt-pflash1-storage';
  }
  return nodes;
}

/** After -cpu: -bios for a ROM, the secure-boot flag for a pflash loader. */
export function buildLoaderArgs(ctx: BuildContext): void {
  const loader = ctx.dom.os.loader;
  if (loader?.path === undefined) return;
  if (!isPflash(ctx)) ctx.argv.add('-bios', loader.path);
  else if (loader.secure === 'yes') ctx.argv.add('-global', 'driver=cfi.pflash01,property=secure,value=on');
}
