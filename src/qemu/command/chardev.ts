// Character devices (qemuBuildSerialCommandLine, ...ParallelsCommandLine,
// ...ChannelsCommandLine, ...ConsoleCommandLine): the -chardev backend of each,
// then its device — isa/usb/pci-serial, virtserialport, virtconsole or a
// slirp guestfwd. Backends we cannot build are refused by name.
import type { Chardev, ChrSource } from '../../conf/chardev.js';
import type { BuildContext } from './context.js';
import { addressProps, aliasOf, deviceAddressProps, devicesOf, unsupported } from './context.js';
import { escapeComma } from './props.js';

/** qemuBuildChardevCommand in QEMU's key=value form; `spiceName` names a spicevmc backend. */
function chardevArg(ctx: BuildContext, c: Chardev, id: string, spiceName?: string): string {
  const s: ChrSource = c.source;
  const path = s.path === undefined ? '' : escapeComma(s.path);
  if (s.log) unsupported(`<${c.kind}><log>`);
  const reconnect = (): string => {
    if (s.reconnect?.enabled !== 'yes') return '';
    return `,reconnect-ms=${(s.reconnect.timeout ?? 0) * 1000}`;
  };
  switch (s.type) {
    case 'null': case 'vc': case 'pty': case 'stdio':
      return `${s.type},id=${id}`;
    case 'dev':
      return `${c.kind === 'parallel' ? 'parallel' : 'serial'},id=${id},path=${path}`;
    case 'file':
      return `file,id=${id},path=${path}${s.append ? `,append=${s.append}` : ''}`;
    case 'pipe':
      return `pipe,id=${id},path=${path}`;
    case 'udp':
      return `udp,id=${id},host=${s.connectHost ?? ''},port=${s.connectService ?? ''},localaddr=${s.bindHost ?? ''},localport=${s.bindService ?? 0}`;
    case 'tcp': {
      if (s.tls === 'yes' || s.protocol === 'tls') return unsupported(`<${c.kind} type='tcp'> with TLS`);
      const telnet = s.protocol === 'telnet' ? ',telnet=on' : '';
      const server = s.mode === 'bind' ? ',server=on,wait=off' : reconnect();
      return `socket,id=${id},host=${s.host ?? ''},port=${s.service ?? ''}${telnet}${server}`;
    }
    case 'unix':
      if (s.path === undefined) {
        // A virtio channel without a path listens on one libvirt makes up (qemuDomainPrepareChannel).
        if (c.kind !== 'channel' || c.target.type !== 'virtio') return unsupported(`<${c.kind} type='unix'> without a socket path`);
        return `socket,id=${id},${ctx.profile.listenSocket(ctx.profile.channelSocket(c.target.name ?? id))}`;
      }
      return s.mode === 'bind'
        ? `socket,id=${id},${ctx.profile.listenSocket(s.path)}`
        : `socket,id=${id},path=${path}${reconnect()}`;
    case 'spicevmc':
      return `spicevmc,id=${id},name=${spiceName ?? unsupported(`<${c.kind} type='spicevmc'>`)}`;
    case 'spiceport':
      return `spiceport,id=${id},name=${escapeComma(s.channel ?? '')}`;
    default:
      return unsupported(`<${c.kind} type='${s.type}'>`);
  }
}

/** The -chardev of another device's host side (a redirdev, smartcard, rng...): `name` is its element. */
export function chardevBackend(ctx: BuildContext, name: string, source: ChrSource, id: string, spiceName?: string): string {
  return chardevArg(ctx, { kind: name as Chardev['kind'], source, target: { port: -1 }, info: {} }, id, spiceName);
}

function serialDevice(ctx: BuildContext, c: Chardev, alias: string): void {
  const model = c.target.model ?? (c.target.type === 'usb-serial' ? 'usb-serial' : c.target.type === 'pci-serial' ? 'pci-serial' : 'isa-serial');
  switch (model) {
    case 'isa-serial': case 'usb-serial': case 'pci-serial':
      ctx.argv.device({
        driver: model,
        chardev: `char${alias}`,
        id: alias,
        index: model === 'isa-serial' && c.target.port >= 0 ? c.target.port : undefined,
        ...deviceAddressProps(ctx, c),
      });
      return;
    default:
      ctx.argv.add('-serial', `chardev:char${alias}`);
  }
}

export function buildSerials(ctx: BuildContext): void {
  for (const c of devicesOf<Chardev>(ctx, 'serial')) {
    const alias = aliasOf(ctx, c);
    ctx.argv.add('-chardev', chardevArg(ctx, c, `char${alias}`));
    serialDevice(ctx, c, alias);
  }
}

/** virtio channels: a virtserialport on the channel's virtio-serial port; guestfwd: slirp forwarding. */
export function buildChannels(ctx: BuildContext): void {
  for (const c of devicesOf<Chardev>(ctx, 'channel')) {
    const alias = aliasOf(ctx, c);
    const id = `char${alias}`;
    if (c.target.type === 'guestfwd') {
      ctx.argv.add('-chardev', chardevArg(ctx, c, id));
      const fwd = `tcp:${c.target.address ?? ''}:${c.target.guestfwdPort ?? ''}-chardev:${id}`;
      ctx.argv.netdev({ type: 'user', guestfwd: [{ str: fwd }], id: alias });
      continue;
    }
    if (c.target.type !== 'virtio') unsupported(`<channel> with target type '${c.target.type ?? 'none'}'`);
    ctx.argv.add('-chardev', chardevArg(ctx, c, id, 'vdagent'));
    // A spicevmc channel without a name is the SPICE agent's.
    const name = c.target.name ?? (c.source.type === 'spicevmc' ? 'com.redhat.spice.0' : undefined);
    ctx.argv.device({ driver: 'virtserialport', ...addressProps(ctx, c.info), chardev: id, id: alias, name });
  }
}

/** The first console of a HVM guest is the serial port (built there); virtio consoles are virtconsoles. */
export function buildConsoles(ctx: BuildContext): void {
  for (const c of devicesOf<Chardev>(ctx, 'console')) {
    if (c.target.type === 'serial') continue;
    if (c.target.type !== 'virtio') unsupported(`<console> with target type '${c.target.type ?? 'none'}'`);
    const alias = aliasOf(ctx, c);
    ctx.argv.add('-chardev', chardevArg(ctx, c, `char${alias}`));
    ctx.argv.device({ driver: 'virtconsole', ...addressProps(ctx, c.info), chardev: `char${alias}`, id: alias });
  }
}

export function checkOtherChardevs(ctx: BuildContext): void {
  if (devicesOf(ctx, 'parallel').length) unsupported('<parallel>');
}
