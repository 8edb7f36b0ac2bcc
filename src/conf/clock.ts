// <clock offset='utc'><timer name='rtc' tickpolicy='catchup'/></clock>: the
// guest clock and its timers (virDomainClockDef), and <pm> (suspend states).
// libvirt always writes <clock> (offset 'utc' when absent).
import { ConfigUnsupportedError, InternalError, XmlError } from '../util/errors.js';
import type { ElementReader, Extra, XmlWriter } from '../util/xml.js';
import { attrsOf } from './children.js';
import type { YesNo } from './common.js';
import { propEnum, propULongLong, propYesNo } from './props.js';

export const CLOCK_OFFSETS = ['utc', 'localtime', 'variable', 'timezone', 'absolute'] as const;
export type ClockOffset = (typeof CLOCK_OFFSETS)[number];
export const CLOCK_BASES = ['utc', 'localtime'] as const;
export const TIMER_NAMES = ['platform', 'pit', 'rtc', 'hpet', 'tsc', 'kvmclock', 'hypervclock', 'armvtimer'] as const;
export type TimerName = (typeof TIMER_NAMES)[number];
/** Index 0 ('none') is "not set" and refused in XML. */
export const TIMER_TRACKS = ['none', 'boot', 'guest', 'wall', 'realtime'] as const;
export const TIMER_TICKPOLICIES = ['none', 'delay', 'catchup', 'merge', 'discard'] as const;
export const TIMER_MODES = ['none', 'auto', 'native', 'emulate', 'paravirt', 'smpsafe'] as const;

export interface Timer {
  name: TimerName;
  present?: YesNo;
  tickpolicy?: string;
  track?: string;
  /** tsc only */
  frequency?: number;
  mode?: string;
  catchup?: { threshold?: number; slew?: number; limit?: number; extra?: Extra };
  extra?: Extra;
}

export interface Clock {
  offset: ClockOffset;
  /** utc/localtime: adjustment='reset' */
  reset?: boolean;
  /** variable: seconds (a numeric adjustment on utc/localtime turns the offset into 'variable') */
  adjustment?: number;
  basis?: string;
  /** timezone */
  timezone?: string;
  /** absolute: seconds since the epoch */
  start?: number;
  timers: Timer[];
  extra?: Extra;
}

export interface PmState {
  enabled: YesNo;
  extra?: Extra;
}

export interface Pm {
  'suspend-to-mem'?: PmState;
  'suspend-to-disk'?: PmState;
  extra?: Extra;
}

export function newClock(offset: ClockOffset = 'utc'): Clock {
  return { offset, timers: [] };
}

function parseTimer(t: ElementReader): Timer {
  const timer: Timer = { name: propEnum(t, 'name', TIMER_NAMES, { required: true })! };
  const set = <K extends keyof Timer>(k: K, v: Timer[K] | undefined) => v !== undefined && (timer[k] = v);
  set('present', propYesNo(t, 'present'));
  set('tickpolicy', propEnum(t, 'tickpolicy', TIMER_TICKPOLICIES, { nonzero: true }));
  set('track', propEnum(t, 'track', TIMER_TRACKS, { nonzero: true }));
  const frequency = propULongLong(t, 'frequency');
  if (frequency) timer.frequency = frequency;
  set('mode', propEnum(t, 'mode', TIMER_MODES, { nonzero: true }));
  const catchup = t.firstChild('catchup');
  if (catchup) {
    timer.catchup = {};
    for (const name of ['threshold', 'slew', 'limit'] as const) {
      const v = propULongLong(catchup, name);
      if (v) timer.catchup[name] = v;
    }
    const extra = catchup.rest();
    if (extra) timer.catchup.extra = extra;
  }
  const extra = t.rest();
  if (extra) timer.extra = extra;
  return timer;
}

/** strtoll-style: leading blanks and a sign allowed, nothing after the digits. */
function longLong(raw: string): number | undefined {
  return /^\s*[+-]?[0-9]+$/.test(raw) && Number.isSafeInteger(Number(raw.trim())) ? Number(raw.trim()) : undefined;
}

/** virDomainDefClockParse */
export function parseClock(r: ElementReader | undefined): Clock {
  const clock = newClock();
  if (!r) return clock;
  const offset = r.attr('offset');
  if (offset) {
    if (!(CLOCK_OFFSETS as readonly string[]).includes(offset)) throw new ConfigUnsupportedError(`unknown clock offset '${offset}'`);
    clock.offset = offset as ClockOffset;
  }
  const adjustment = r.attr('adjustment');
  switch (clock.offset) {
    case 'utc':
    case 'localtime':
      if (adjustment === 'reset') clock.reset = true;
      else if (adjustment) {
        const v = longLong(adjustment);
        if (v === undefined) throw new XmlError(`unknown clock adjustment '${adjustment}'`);
        clock.basis = clock.offset;
        clock.adjustment = v;
        clock.offset = 'variable';
      }
      break;
    case 'variable': {
      clock.adjustment = longLong(adjustment ?? '') ?? 0;
      r.attr('adjustment0'); // live-state only, not written to definitions
      const basis = r.attr('basis');
      if (basis) {
        if (!(CLOCK_BASES as readonly string[]).includes(basis)) throw new ConfigUnsupportedError(`unknown clock basis '${basis}'`);
        clock.basis = basis;
      } else clock.basis = 'utc';
      break;
    }
    case 'timezone': {
      const tz = r.attr('timezone');
      if (!tz) throw new InternalError("missing 'timezone' attribute for clock with offset='timezone'");
      clock.timezone = tz;
      break;
    }
    case 'absolute': {
      const start = r.attr('start');
      const v = start && /^\s*\+?[0-9]+$/.test(start) ? Number(start.trim()) : undefined;
      if (v === undefined || !Number.isSafeInteger(v)) {
        throw new InternalError("missing 'start' attribute for clock with offset='absolute'");
      }
      clock.start = v;
      break;
    }
  }
  clock.timers = r.children('timer').map(parseTimer);
  const extra = r.rest();
  if (extra) clock.extra = extra;
  return clock;
}

function formatTimer(w: XmlWriter, t: Timer): void {
  const attrs: [string, string | number | undefined][] = [
    ['name', t.name], ['present', t.present], ['tickpolicy', t.tickpolicy], ['track', t.track],
  ];
  if (t.name === 'tsc') attrs.push(['frequency', t.frequency], ['mode', t.mode]);
  w.element('timer', attrs, () => {
    const c = t.catchup;
    if (c && (c.threshold || c.slew || c.limit || c.extra)) {
      w.empty('catchup', [['threshold', c.threshold], ['slew', c.slew], ['limit', c.limit]], c.extra);
    }
    w.extraChildren(t.extra);
  }, attrsOf(t.extra));
}

/** virDomainClockDefFormat (definition form: no adjustment0) */
export function formatClock(w: XmlWriter, c: Clock): void {
  const attrs: [string, string | number | undefined][] = [['offset', c.offset]];
  if ((c.offset === 'utc' || c.offset === 'localtime') && c.reset) attrs.push(['adjustment', 'reset']);
  else if (c.offset === 'variable') attrs.push(['adjustment', c.adjustment ?? 0], ['basis', c.basis ?? 'utc']);
  else if (c.offset === 'timezone') attrs.push(['timezone', c.timezone]);
  else if (c.offset === 'absolute') attrs.push(['start', c.start ?? 0]);
  w.element('clock', attrs, () => {
    c.timers.forEach((t) => formatTimer(w, t));
    w.extraChildren(c.extra);
  }, attrsOf(c.extra));
}

/** virDomainDefPostParseTimer's checks (conf-level, run at define). */
export function validateClock(c: Clock): void {
  for (const t of c.timers) {
    if ((t.name === 'kvmclock' || t.name === 'hypervclock') && t.tickpolicy) {
      throw new ConfigUnsupportedError(`timer ${t.name} doesn't support setting of timer tickpolicy`);
    }
    if (t.tickpolicy !== 'catchup' && (t.catchup?.threshold || t.catchup?.limit || t.catchup?.slew)) {
      throw new XmlError("setting of timer catchup policies is only supported with tickpolicy='catchup'");
    }
    if (t.name !== 'tsc') {
      if (t.frequency) throw new ConfigUnsupportedError(`timer ${t.name} doesn't support setting of timer frequency`);
      if (t.mode) throw new ConfigUnsupportedError(`timer ${t.name} doesn't support setting of timer mode`);
    }
    if (t.name !== 'platform' && t.name !== 'rtc' && t.track) {
      throw new ConfigUnsupportedError(`timer ${t.name} doesn't support setting of timer track`);
    }
  }
}

const PM_STATES = ['suspend-to-mem', 'suspend-to-disk'] as const;

/** virDomainPMStateParseXML for both states */
export function parsePm(r: ElementReader): Pm {
  const pm: Pm = {};
  for (const name of PM_STATES) {
    const el = r.firstChild(name);
    const enabled = el ? propYesNo(el, 'enabled') : undefined;
    if (!el || !enabled) continue;
    const state: PmState = { enabled };
    const extra = el.rest();
    if (extra) state.extra = extra;
    pm[name] = state;
  }
  const extra = r.rest();
  if (extra) pm.extra = extra;
  return pm;
}

/** Written only when a state is set. */
export function formatPm(w: XmlWriter, pm: Pm | undefined): void {
  if (!pm || (!pm['suspend-to-mem'] && !pm['suspend-to-disk'])) return;
  w.open('pm', [], attrsOf(pm.extra));
  for (const name of PM_STATES) {
    const st = pm[name];
    if (st) w.empty(name, [['enabled', st.enabled]], st.extra);
  }
  w.extraChildren(pm.extra);
  w.close('pm');
}
