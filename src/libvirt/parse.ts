// virsh's human output, read back: domain state and dominfo-style "Key:   value" tables.
import { DOMAIN_STATES, DOMAIN_STATE_TEXT, type DomainStateName } from '../conf/domain-state.js';
import { OperationFailedError } from '../util/errors.js';

const TEXT_TO_STATE = new Map<string, DomainStateName>(DOMAIN_STATES.map((s) => [DOMAIN_STATE_TEXT[s], s]));

/** `virsh domstate --reason` output: "running (booted)", "shut off (destroyed)". */
export function parseDomstate(out: string): { state: DomainStateName; reason: string } {
  const line = out.trim();
  const m = /^(.*?)(?: \((.*)\))?$/.exec(line)!;
  const state = TEXT_TO_STATE.get(m[1]!);
  if (!state) throw new OperationFailedError(`virsh reported an unknown domain state '${line}'`);
  return { state, reason: m[2] ?? 'unknown' };
}

/** `virsh dominfo` as key -> value ("Id", "Name", "UUID", "Persistent", ...). */
export function parseDominfo(out: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of out.split('\n')) {
    const m = /^([A-Za-z][A-Za-z ()]*?):\s+(.*)$/.exec(line);
    if (m && !map.has(m[1]!)) map.set(m[1]!, m[2]!.trim());
  }
  return map;
}

