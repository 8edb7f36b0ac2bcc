// <panic> (qemuBuildPanicCommandLine, after the sandbox): the ISA pvpanic device (its
// I/O port from an ISA address) or pvpanic-pci. Hyper-V's crash MSRs are a CPU flag we
// do not build.
import type { Panic } from '../../conf/panic.js';
import type { BuildContext } from './context.js';
import { addressProps, devicesOf, unsupported } from './context.js';

export function buildPanics(ctx: BuildContext): void {
  for (const p of devicesOf<Panic>(ctx, 'panic')) {
    if (p.extra) unsupported(`<panic><${p.extra.children[0]?.name ?? p.extra.attrs[0]?.[0]}>`);
    switch (p.model ?? 'isa') {
      case 'isa': {
        const a = addressProps(ctx, p.info);
        ctx.argv.device({ driver: 'pvpanic', ioport: a.iobase });
        break;
      }
      case 'pvpanic':
        ctx.argv.device({ driver: 'pvpanic-pci', ...addressProps(ctx, p.info) });
        break;
      default:
        unsupported(`<panic model='${p.model}'>`);
    }
  }
}
