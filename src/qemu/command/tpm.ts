// <tpm> (qemuBuildTPMsCommandLine): the backend as -tpmdev (an emulator or external
// swtpm through a socket chardev, or host passthrough through passed fds) and the
// front end (tpm-tis, tpm-crb) as -device. Starting swtpm is not ours: outside the
// libvirt test profile an emulator backend is refused.
import type { BuildContext } from './context.js';
import { aliasOf, deviceXml, devicesOf, unsupported, xmlChild } from './context.js';
import { escapeComma } from './props.js';

const MODELS = new Set(['tpm-tis', 'tpm-crb']);

export function buildTpms(ctx: BuildContext): void {
  for (const d of devicesOf(ctx, 'tpm')) {
    const el = deviceXml(d);
    const model = el.attrs.get('model') ?? 'tpm-tis';
    if (!MODELS.has(model)) unsupported(`<tpm model='${model}'>`);
    const backend = xmlChild(el, 'backend');
    const type = backend?.attrs.get('type');
    const alias = aliasOf(ctx, d);
    const tpmdev = `tpm-${alias}`;
    switch (type) {
      case 'emulator': {
        const socket = ctx.profile.name === 'libvirt-test' ? '/dev/test' : unsupported("<tpm><backend type='emulator'> (swtpm)");
        ctx.argv.add('-chardev', `socket,id=chrtpm,path=${socket}`);
        ctx.argv.add('-tpmdev', `emulator,id=${tpmdev},chardev=chrtpm`);
        break;
      }
      case 'external': {
        const source = xmlChild(backend, 'source');
        const path = source?.attrs.get('path');
        if (source?.attrs.get('type') !== 'unix' || path === undefined) unsupported('<tpm><backend type=\'external\'> without a UNIX socket');
        ctx.argv.add('-chardev', `socket,id=chrtpm,path=${escapeComma(path!)}`);
        ctx.argv.add('-tpmdev', `emulator,id=${tpmdev},chardev=chrtpm`);
        break;
      }
      case 'passthrough': {
        if (ctx.profile.name !== 'libvirt-test') unsupported("<tpm><backend type='passthrough'>");
        const tpmSet = ctx.fdset++;
        const cancelSet = ctx.fdset++;
        ctx.argv.add('-add-fd', `set=${tpmSet},fd=1730,opaque=${alias}-tpm`);
        ctx.argv.add('-add-fd', `set=${cancelSet},fd=1731,opaque=${alias}-cancel`);
        ctx.argv.add('-tpmdev', `passthrough,id=${tpmdev},path=/dev/fdset/${tpmSet},cancel-path=/dev/fdset/${cancelSet}`);
        break;
      }
      default:
        unsupported(`<tpm><backend type='${type ?? ''}'>`);
    }
    ctx.argv.device({ driver: model, tpmdev, id: alias });
  }
}
