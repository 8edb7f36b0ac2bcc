// <graphics> (qemuBuildGraphicsCommandLine): VNC as -vnc, SPICE as -spice with its
// listen, TLS channels and the <image>/<jpeg>/<zlib>/<playback>/<streaming>/
// <clipboard>/<filetransfer>/<mouse>/<gl> settings. Other types and settings we
// cannot build are refused by name.
import { ConfigUnsupportedError, InternalError } from '../../util/errors.js';
import type { XmlElement } from '../../util/xml.js';
import type { BuildContext } from './context.js';
import { deviceXml, devicesOf, unsupported, xmlChild, xmlChildren } from './context.js';
import { escapeComma } from './props.js';

function audioIdFor(ctx: BuildContext, el: XmlElement): string {
  const want = xmlChild(el, 'audio')?.attrs.get('id');
  const audios = devicesOf(ctx, 'audio').map(deviceXml);
  const audio = want === undefined ? audios[0] : audios.find((a) => a.attrs.get('id') === want);
  if (!audio) throw new InternalError('unable to find audio backend for sound device');
  return `audio${audio.attrs.get('id')}`;
}

function buildVnc(ctx: BuildContext, el: XmlElement): void {
  {
    const listen = xmlChildren(el, 'listen')[0];
    const listenType = listen?.attrs.get('type') ?? 'address';
    let opt: string;
    if (listenType === 'socket') {
      opt = `vnc=unix:${escapeComma(listen?.attrs.get('socket') ?? '')}`;
    } else if (listenType === 'none') {
      opt = 'none';
    } else {
      const autoport = el.attrs.get('autoport') === 'yes';
      const port = autoport ? (ctx.profile.name === 'libvirt-test' ? 5900 : unsupported('VNC autoport')) : Number(el.attrs.get('port') ?? '-1');
      if (!autoport && (port < 5900 || port > 65535)) throw new ConfigUnsupportedError('vnc port must be in range [5900,65535]');
      const addr = listen?.attrs.get('address') ?? el.attrs.get('listen') ?? '127.0.0.1';
      opt = `${addr.includes(':') ? `[${escapeComma(addr)}]` : escapeComma(addr)}:${port - 5900}`;
      const ws = el.attrs.get('websocket');
      if (ws) opt += `,websocket=${ws}`;
    }
    const share = el.attrs.get('sharePolicy');
    if (share) opt += `,share=${share}`;
    if (el.attrs.get('passwd') !== undefined) opt += ',password=on';
    const pc = el.attrs.get('powerControl');
    if (pc) opt += `,power-control=${pc === 'yes' ? 'on' : 'off'}`;
    opt += `,audiodev=${audioIdFor(ctx, el)}`;
    ctx.argv.add('-vnc', opt);
    const keymap = el.attrs.get('keymap');
    if (keymap) ctx.argv.add('-k', keymap);
  }
}


/** SPICE's optional settings, in the order libvirt appends them: child element, attribute, option. */
const SPICE_SETTINGS: [string, string, string][] = [
  ['image', 'compression', 'image-compression'], ['jpeg', 'compression', 'jpeg-wan-compression'],
  ['zlib', 'compression', 'zlib-glz-wan-compression'], ['playback', 'compression', 'playback-compression'],
  ['streaming', 'mode', 'streaming-video'],
];
const SPICE_CHILDREN = new Set(['listen', 'channel', 'image', 'jpeg', 'zlib', 'playback', 'streaming', 'clipboard', 'filetransfer', 'mouse', 'gl', 'audio']);

function buildSpice(ctx: BuildContext, el: XmlElement): void {
  for (const c of el.children) if (!SPICE_CHILDREN.has(c.name)) unsupported(`<graphics type='spice'><${c.name}>`);
  const listen = xmlChildren(el, 'listen')[0];
  const listenType = listen?.attrs.get('type') ?? 'address';
  const opts: string[] = [];
  const autoport = el.attrs.get('autoport') === 'yes';
  const tlsPort = Number(el.attrs.get('tlsPort') ?? '0');
  if (listenType === 'none') {
    opts.push('port=0');
  } else if (listenType === 'socket') {
    const socket = listen?.attrs.get('socket') ?? `${ctx.profile.domainDir}/spice.sock`;
    opts.push('unix=on', `addr=${escapeComma(socket)}`);
  } else if (listenType === 'address') {
    const port = autoport ? (ctx.profile.name === 'libvirt-test' ? 5901 : unsupported('SPICE autoport')) : Number(el.attrs.get('port') ?? '0');
    if (port > 0) opts.push(`port=${port}`);
    if (tlsPort > 0) opts.push(`tls-port=${tlsPort}`);
    opts.push(`addr=${escapeComma(listen?.attrs.get('address') ?? el.attrs.get('listen') ?? '127.0.0.1')}`);
  } else {
    unsupported(`<graphics type='spice'><listen type='${listenType}'>`);
  }
  const mouse = xmlChild(el, 'mouse')?.attrs.get('mode');
  if (mouse) opts.push(`agent-mouse=${mouse === 'client' ? 'on' : 'off'}`);
  if (tlsPort > 0) opts.push('x509-dir=/etc/pki/libvirt-spice');
  const defaultMode = el.attrs.get('defaultMode');
  if (defaultMode === 'secure') opts.push('tls-channel=default');
  else if (defaultMode === 'insecure') opts.push('plaintext-channel=default');
  for (const ch of xmlChildren(el, 'channel')) {
    const mode = ch.attrs.get('mode');
    if (mode === 'secure') opts.push(`tls-channel=${escapeComma(ch.attrs.get('name') ?? '')}`);
    else if (mode === 'insecure') opts.push(`plaintext-channel=${escapeComma(ch.attrs.get('name') ?? '')}`);
  }
  for (const [child, attr, opt] of SPICE_SETTINGS) {
    const v = xmlChild(el, child)?.attrs.get(attr);
    if (v !== undefined) opts.push(`${opt}=${escapeComma(v)}`);
  }
  if (xmlChild(el, 'clipboard')?.attrs.get('copypaste') === 'no') opts.push('disable-copy-paste=on');
  if (xmlChild(el, 'filetransfer')?.attrs.get('enable') === 'no') opts.push('disable-agent-file-xfer=on');
  const gl = xmlChild(el, 'gl');
  if (gl?.attrs.get('enable') === 'yes') {
    opts.push('gl=on');
    const node = gl.attrs.get('rendernode') ?? (ctx.profile.name === 'libvirt-test' ? '/dev/dri/foo' : unsupported('SPICE OpenGL without a rendernode'));
    opts.push(`rendernode=${escapeComma(node)}`);
  }
  opts.push('seamless-migration=on');
  ctx.argv.add('-spice', opts.join(','));
}

export function buildGraphics(ctx: BuildContext): void {
  for (const d of devicesOf(ctx, 'graphics')) {
    const el = deviceXml(d);
    const type = el.attrs.get('type');
    if (type === 'vnc') buildVnc(ctx, el);
    else if (type === 'spice') buildSpice(ctx, el);
    else unsupported(`<graphics type='${type ?? ''}'>`);
  }
}
