// <video><model type='qxl' ram='65536' .../></video>: type, parse, format,
// validation (virDomainVideoDef*).
import { ConfigUnsupportedError, InternalError } from '../util/errors.js';
import type { ElementReader, Extra, XmlWriter } from '../util/xml.js';
import { attrsOf, orderedChildren } from './children.js';
import { type DeviceInfo, formatDeviceInfo, parseDeviceInfo } from './device-info.js';
import { type Device } from './devices.js';
import type { OnOff, YesNo } from './common.js';
import { propEnum, propOnOff, propUInt, propYesNo, sanitizePath } from './props.js';
import { type VirtioOptions, parseVirtioOptions, validateVirtioOptionsAbsent, virtioOptionAttrs } from './virtio-options.js';

/** 'default' means "not chosen yet": post-parse replaces it. */
export const VIDEO_TYPES = [
  'default', 'vga', 'cirrus', 'vmvga', 'xen', 'vbox', 'qxl', 'parallels', 'virtio', 'gop', 'none', 'bochs', 'ramfb',
] as const;
export type VideoType = (typeof VIDEO_TYPES)[number];
export const VIDEO_BACKENDS = ['default', 'qemu', 'vhostuser'] as const;
export const VIDEO_VGACONF = ['io', 'on', 'off'] as const;

export interface VideoAcceleration {
  accel3d?: YesNo;
  accel2d?: YesNo;
  rendernode?: string;
  extra?: Extra;
}

export interface VideoModel {
  type: VideoType;
  /** KiB; 0 / absent = not set */
  ram?: number;
  vram?: number;
  vram64?: number;
  vgamem?: number;
  heads?: number;
  primary?: boolean;
  blob?: OnOff;
  acceleration?: VideoAcceleration;
  resolution?: { x: number; y: number; extra?: Extra };
  extra?: Extra;
}

export interface Video {
  kind: 'video';
  model: VideoModel;
  driver?: { name?: string; vgaconf?: string; virtio?: VirtioOptions; extra?: Extra };
  info: DeviceInfo;
  extra?: Extra;
}

export function newVideo(type: VideoType): Video {
  return { kind: 'video', model: type === 'none' ? { type } : { type, heads: 1 }, info: {} };
}

function parseModel(m: ElementReader): VideoModel {
  const model: VideoModel = { type: 'default' };
  if (m.attr('primary') === 'yes') model.primary = true; // a bad value is reported but not fatal in libvirt
  const accel = m.child('acceleration');
  if (accel) {
    const rendernode = accel.attr('rendernode');
    const accel3d = propYesNo(accel, 'accel3d');
    const accel2d = propYesNo(accel, 'accel2d');
    if (rendernode === undefined && !accel3d && !accel2d) throw new ConfigUnsupportedError('missing values for acceleration');
    model.acceleration = {};
    if (accel3d) model.acceleration.accel3d = accel3d;
    if (accel2d) model.acceleration.accel2d = accel2d;
    if (rendernode !== undefined) model.acceleration.rendernode = sanitizePath(rendernode);
    const extra = accel.rest();
    if (extra) model.acceleration.extra = extra;
  }
  const res = m.child('resolution');
  if (res) {
    model.resolution = { x: propUInt(res, 'x', { required: true })!, y: propUInt(res, 'y', { required: true })! };
    const extra = res.rest();
    if (extra) model.resolution.extra = extra;
  }
  model.type = propEnum(m, 'type', VIDEO_TYPES) ?? 'default';
  for (const name of ['ram', 'vram', 'vram64', 'vgamem'] as const) {
    const v = propUInt(m, name);
    if (v) model[name] = v;
  }
  // libvirt defaults heads to 1; for type 'none' its post-parse clears every
  // filled-in value again, so a 'none' model gets no default here.
  const heads = propUInt(m, 'heads');
  if (heads !== undefined) model.heads = heads;
  else if (model.type !== 'none') model.heads = 1;
  const blob = propOnOff(m, 'blob');
  if (blob) model.blob = blob;
  const extra = m.rest();
  if (extra) model.extra = extra;
  return model;
}

/** virDomainVideoDefParseXML */
export function parseVideo(r: ElementReader, ctx: { inactive: boolean }): Video {
  const m = r.child('model');
  const video: Video = { kind: 'video', model: m ? parseModel(m) : { type: 'default', heads: 1 }, info: {} };
  const driver = r.child('driver');
  if (driver) {
    video.driver = {};
    const name = propEnum(driver, 'name', VIDEO_BACKENDS, { nonzero: true });
    if (name) video.driver.name = name;
    const virtio = parseVirtioOptions(driver);
    if (virtio) video.driver.virtio = virtio;
    const vgaconf = propEnum(driver, 'vgaconf', VIDEO_VGACONF);
    if (vgaconf && vgaconf !== 'io') video.driver.vgaconf = vgaconf; // 'io' is enum 0: libvirt never writes it
    const extra = driver.rest();
    if (extra) video.driver.extra = extra;
  }
  video.info = parseDeviceInfo(r, ctx);
  delete video.info.boot;
  delete video.info.rom;
  const extra = r.rest();
  if (extra) video.extra = extra;
  return video;
}

function formatModel(w: XmlWriter, m: VideoModel): void {
  const attrs: [string, string | number | undefined][] = [
    ['type', m.type],
    ['ram', m.ram || undefined],
    ['vram', m.vram || undefined],
    ['vram64', m.vram64 || undefined],
    ['vgamem', m.vgamem || undefined],
    ['heads', m.heads || undefined],
    ['primary', m.primary ? 'yes' : undefined],
    ['blob', m.blob],
  ];
  w.element('model', attrs, () => {
    const a = m.acceleration;
    if (a) w.empty('acceleration', [['accel3d', a.accel3d], ['accel2d', a.accel2d], ['rendernode', a.rendernode]], a.extra);
    const res = m.resolution;
    if (res) w.empty('resolution', res.x && res.y ? [['x', res.x], ['y', res.y]] : [], res.extra);
    w.extraChildren(m.extra);
  }, attrsOf(m.extra));
}

/** virDomainVideoDefFormat */
export function formatVideo(w: XmlWriter, v: Video): void {
  w.open('video', [], attrsOf(v.extra));
  orderedChildren(w, ['driver', 'model', 'info'], {
    driver: () => {
      const d = v.driver;
      const attrs: [string, string | undefined][] = [...virtioOptionAttrs(d?.virtio), ['vgaconf', d?.vgaconf], ['name', d?.name]];
      if (attrs.some(([, x]) => x !== undefined) || d?.extra) w.empty('driver', attrs, d?.extra);
    },
    model: () => formatModel(w, v.model),
    info: () => formatDeviceInfo(w, v.info, { allowBoot: false }),
  }, v.extra);
  w.close('video');
}

/** The parser puts a primary video first (each primary is inserted at index 0). */
export function orderVideos(devices: Device[]): void {
  const slots: number[] = [];
  const sorted: Video[] = [];
  devices.forEach((d, i) => {
    if (d.kind !== 'video') return;
    slots.push(i);
    const v = d as Video;
    if (v.model.primary) sorted.unshift(v);
    else sorted.push(v);
  });
  slots.forEach((slot, k) => (devices[slot] = sorted[k]));
}

/** virDomainVideoDefValidate */
export function validateVideo(v: Video, devices: readonly Device[]): void {
  const type = v.model.type;
  if (type === 'default') throw new InternalError('missing video model and cannot determine default');
  const videos = devices.filter((d) => d.kind === 'video') as Video[];
  if (videos.length > 1 && videos.some((x) => x.model.type === 'none')) {
    throw new ConfigUnsupportedError("a 'none' video type must be the only video device defined for the domain");
  }
  if (v.driver?.name === 'vhostuser') {
    if (type !== 'virtio') throw new ConfigUnsupportedError("'vhostuser' driver is only supported with 'virtio' device");
  } else if (v.model.acceleration?.rendernode !== undefined) {
    throw new ConfigUnsupportedError("unsupported rendernode accel attribute without 'vhostuser'");
  }
  if (v.model.resolution && (v.model.resolution.x === 0 || v.model.resolution.y === 0)) {
    throw new ConfigUnsupportedError('video resolution values must be greater than 0');
  }
  if (type !== 'qxl') {
    if (v.model.ram) throw new ConfigUnsupportedError('ram attribute only supported for video type qxl');
    if (v.model.vram64) throw new ConfigUnsupportedError('vram64 attribute only supported for video type qxl');
    if (v.model.vgamem) throw new ConfigUnsupportedError('vgamem attribute only supported for video type qxl');
  }
  if (type === 'ramfb' && v.info.address) throw new ConfigUnsupportedError('address not supported for video type ramfb');
  if (type !== 'virtio') {
    validateVirtioOptionsAbsent(v.driver?.virtio);
    if (v.model.blob) throw new ConfigUnsupportedError(`video type '${type}' does not support blob resources`);
  }
}

/** virDomainDefVideoValidate: only one primary. */
export function validatePrimaryVideo(devices: readonly Device[]): void {
  const videos = devices.filter((d) => d.kind === 'video') as Video[];
  if (videos[0]?.model.primary && videos.slice(1).some((x) => x.model.primary)) {
    throw new ConfigUnsupportedError('Only one primary video device is supported');
  }
}

/** The checks run for each <video> at define (listed in validate.ts). */
export function validateVideoDevice(v: Video, devices: readonly Device[]): void {
  validateVideo(v, devices);
  if (devices.find((d) => d.kind === 'video') === v) validatePrimaryVideo(devices);
}
