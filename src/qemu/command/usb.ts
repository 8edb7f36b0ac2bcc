// USB devices that are not disks, NICs, inputs or host devices: usb-hub
// (qemuBuildHubCommandLine, right after the controllers).
import { isRawDevice } from '../../conf/devices.js';
import type { BuildContext } from './context.js';
import { aliasOf, deviceAddressProps, devicesOf, unsupported } from './context.js';

export function buildHubs(ctx: BuildContext): void {
  for (const d of devicesOf(ctx, 'hub')) {
    const type = isRawDevice(d) ? d.el.attrs.get('type') : undefined;
    if (type !== 'usb') unsupported(`<hub type='${type ?? ''}'>`);
    ctx.argv.device({ driver: 'usb-hub', id: aliasOf(ctx, d), ...deviceAddressProps(ctx, d) });
  }
}
