// A domain's state as libvirt reports it (virDomainState and its reasons) and the summary every backend
// gives of a domain: the embedded driver and libvirt print the same `list`, `domstate` and --json.
/** libvirt's virDomainState, as stored and as printed in --json. */
export const DOMAIN_STATES = ['nostate', 'running', 'blocked', 'paused', 'shutdown', 'shutoff', 'crashed', 'pmsuspended'] as const;
export type DomainStateName = (typeof DOMAIN_STATES)[number];

/** What virsh prints for each state. */
export const DOMAIN_STATE_TEXT: Record<DomainStateName, string> = {
  nostate: 'no state',
  running: 'running',
  blocked: 'idle',
  paused: 'paused',
  shutdown: 'in shutdown',
  shutoff: 'shut off',
  crashed: 'crashed',
  pmsuspended: 'pmsuspended',
};

/** One domain as `list`/`domstate` show it, from any backend. */
export interface DomainSummary {
  name: string;
  uuid: string;
  /** Set while active. */
  id?: number;
  state: DomainStateName;
  reason: string;
  persistent: boolean;
  active: boolean;
  pid?: number;
}

/** "shut off (crashed)" etc., as virsh domstate --reason prints it. */
export function formatState(s: Pick<DomainSummary, 'state' | 'reason'>, withReason: boolean): string {
  const text = DOMAIN_STATE_TEXT[s.state];
  return withReason ? `${text} (${s.reason})` : text;
}

