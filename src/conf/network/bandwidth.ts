// <bandwidth> with <inbound>/<outbound> rates (virNetDevBandwidthParse / virNetDevBandwidthFormat), as a
// network, a portgroup and a network port carry it.
import { XmlError } from '../../util/errors.js';
import type { ElementReader, XmlWriter } from '../../util/xml.js';
import { propULongLong } from '../props.js';

export interface BandwidthRate {
  average?: number;
  peak?: number;
  floor?: number;
  burst?: number;
}
export interface Bandwidth {
  inbound?: BandwidthRate;
  outbound?: BandwidthRate;
}

function parseRate(r: ElementReader, allowFloor: boolean): BandwidthRate {
  const rate: BandwidthRate = {};
  for (const k of ['average', 'peak', 'burst', 'floor'] as const) {
    const v = propULongLong(r, k);
    if (v !== undefined) rate[k] = v;
  }
  if (rate.floor !== undefined && !allowFloor) throw new XmlError("floor attribute is supported only for inbound bandwidth");
  if (!rate.average && !rate.floor) throw new XmlError("Missing mandatory average or floor attributes");
  if ((rate.peak || rate.burst) && !rate.average) throw new XmlError("'peak' and 'burst' require 'average' attribute");
  return rate;
}

export function parseBandwidth(b: ElementReader | undefined): Bandwidth | undefined {
  if (!b) return undefined;
  const bw: Bandwidth = {};
  const ins = b.children('inbound');
  const outs = b.children('outbound');
  if (ins.length > 1) throw new XmlError('Only one child <inbound> element allowed');
  if (outs.length > 1) throw new XmlError('Only one child <outbound> element allowed');
  if (ins[0]) bw.inbound = parseRate(ins[0], true);
  if (outs[0]) bw.outbound = parseRate(outs[0], false);
  return bw;
}

function formatRate(w: XmlWriter, name: string, r: BandwidthRate | undefined): void {
  if (!r) return;
  w.empty(name, [['average', r.average || undefined], ['peak', r.peak || undefined], ['floor', r.floor || undefined], ['burst', r.burst || undefined]]);
}

/** `classId`: a network port's class_id (classID attribute), when it has one. */
export function formatBandwidth(w: XmlWriter, b: Bandwidth | undefined, classId?: number): void {
  if (!b || (!b.inbound && !b.outbound)) return;
  w.open('bandwidth', [['classID', classId || undefined]]);
  formatRate(w, 'inbound', b.inbound);
  formatRate(w, 'outbound', b.outbound);
  w.close('bandwidth');
}
