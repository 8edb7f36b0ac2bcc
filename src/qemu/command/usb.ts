// USB devices that are not disks, NICs, inputs or host devices: usb-hub
// (qemuBuildHubCommandLine, right after the controllers) and usb-redir
// (qemuBuildRedirdevCommandLine, with the <redirfilter> rules).
import { isRawDevice } from '../../conf/devices.js';
import { type Redirdev, type Redirfilter, redirFilterString } from '../../conf/redirdev.js';
import type { BuildContext } from './context.js';
import { aliasOf, bootIndexOf, deviceAddressProps, devicesOf, unsupported } from './context.js';
import { chardevBackend } from './chardev.js';

export function buildHubs(ctx: BuildContext): void {
  for (const d of devicesOf(ctx, 'hub')) {
    const type = isRawDevice(d) ? d.el.attrs.get('type') : undefined;
    if (type !== 'usb') unsupported(`<hub type='${type ?? ''}'>`);
    ctx.argv.device({ driver: 'usb-hub', id: aliasOf(ctx, d), ...deviceAddressProps(ctx, d) });
  }
}

export function buildRedirdevs(ctx: BuildContext): void {
  const filter = devicesOf<Redirfilter>(ctx, 'redirfilter')[0];
  for (const d of devicesOf<Redirdev>(ctx, 'redirdev')) {
    if (d.extra) unsupported(`<redirdev><${d.extra.children[0]?.name ?? d.extra.attrs[0]?.[0]}>`);
    const id = aliasOf(ctx, d);
    ctx.argv.add('-chardev', chardevBackend(ctx, 'redirdev', d.source, `char${id}`, 'usbredir'));
    ctx.argv.device({
      driver: 'usb-redir',
      chardev: `char${id}`,
      id,
      filter: filter?.rules.length ? redirFilterString(filter) : undefined,
      bootindex: bootIndexOf(ctx, d, d.info),
      ...deviceAddressProps(ctx, d),
    });
  }
}
