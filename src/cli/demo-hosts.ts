// The demo between two hosts: when it can (root, ip, sshd), `npm run demo` makes host B (a network
// namespace with its own sshd and state dir, joined to this one by a veth pair; src/testbed/two-hosts.ts)
// and migrates the guest there over ssh:// with the agent of this very build; else it migrates locally and
// says why.
import { QemuDriver, type DomainSummary } from '../qemu/driver/index.js';
import type { MigrationProgress, MigrationResult } from '../qemu/migration/index.js';
import { AgentChannel, RemoteDestination, parseSshUri } from '../qemu/remote/index.js';
import { makeTwoHosts, twoHostsUnavailable, type TwoHosts } from '../testbed/index.js';

export interface DemoHosts {
  hosts?: TwoHosts;
  /** What the demo does, for its log: the hosts it uses, or why it stays on this host. */
  said: string;
}

/** Host B when it can be made (never under `local`), with a sentence saying which hosts or why not. */
export async function chooseDemoHosts(local: boolean): Promise<DemoHosts> {
  if (local) return { said: 'migrating on this host (--local)' };
  const why = twoHostsUnavailable();
  if (why) return { said: `migrating on this host: a second host cannot be made here (${why})` };
  try {
    const hosts = await makeTwoHosts({ aInRoot: true });
    return {
      hosts,
      said: `two hosts: A = this host's network (${hosts.a.addr} on a veth), B = network namespace ${hosts.b.ns} ` +
        `(${hosts.b.addr}, its own sshd and state dir ${hosts.b.stateDir})`,
    };
  } catch (e) {
    return { said: `migrating on this host: ${(e as Error).message}` };
  }
}

/** `migrate NAME ssh://B --persistent --undefinesource` with the agent of this build; B's driver afterwards. */
export async function migrateToHostB(
  driver: QemuDriver,
  name: string,
  hosts: TwoHosts,
  opts: { unplugTimeoutMs?: number; signal?: AbortSignal; onProgress?: (ev: MigrationProgress) => void; agentCommand?: string },
): Promise<{ result: MigrationResult; domain: DomainSummary; hostB: QemuDriver; uri: string }> {
  // The agent: this very executable (the CLI running the demo), unless told otherwise (the bench).
  const uri = hosts.uri(hosts.b, opts.agentCommand ?? process.argv[1]);
  const target = parseSshUri(uri);
  const ch = await AgentChannel.open(target);
  try {
    const { agentCommand: _, ...rest } = opts;
    const r = await driver.migrateTo(name, new RemoteDestination(ch), { ...rest, persistent: true, undefineSource: true });
    return { result: r.result, domain: r.domain, hostB: QemuDriver.open({ stateDir: hosts.b.stateDir }), uri: target.label };
  } finally {
    await ch.close();
  }
}
