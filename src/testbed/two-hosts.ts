// Two "hosts" on one machine, for the cross-host tests and the demo: two network namespaces joined by a veth
// pair (names and a 10.231.X.0/24 subnet unique to this run), each with an OpenSSH server of its own (keys
// generated here, config in a private dir: no system configuration touched), and, for the client, a key and
// a known_hosts file that names both servers' host keys (host keys are checked). Needs root, ip(8) and
// sshd (Debian: iproute2, openssh-server). Both hosts share the filesystem; each gets its own state dir.
// See shared/notes/two-hosts-on-one-machine.md for the recipe this follows.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { isProcessAlive, signalProcess } from '../util/proc.js';

const run = promisify(execFile);
export const SSHD = '/usr/sbin/sshd';
const SSH_PORT = 2222;

export interface TestHost {
  /** Network namespace, e.g. vfA3f9c1; '' for host A made in this process's own namespace (aInRoot). */
  ns: string;
  addr: string;
  stateDir: string;
  sshdPidFile: string;
}

export interface TwoHosts {
  dir: string;
  a: TestHost;
  b: TestHost;
  clientKey: string;
  knownHosts: string;
  /** ssh:// URI of `to`, with its state dir, the client key and known_hosts; `command` = the agent's executable. */
  uri(to: TestHost, command?: string): string;
  /** argv prefix that runs a command inside `host`'s network namespace. */
  inHost(host: TestHost, argv: string[]): string[];
  /** Stops both sshd (pid files), deletes the namespaces (the veth pair goes with them), removes the dir. */
  dispose(): Promise<void>;
}

/** Why two hosts cannot be made here, or undefined when they can (root, ip, sshd, ssh, ssh-keygen). */
export function twoHostsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root (network namespaces need it)';
  for (const bin of ['/usr/sbin/ip', '/usr/bin/ssh', '/usr/bin/ssh-keygen', SSHD]) {
    if (!existsSync(bin) && !(bin === '/usr/sbin/ip' && existsSync('/sbin/ip'))) {
      return `${bin} is missing (Debian packages: iproute2, openssh-client, openssh-server)`;
    }
  }
  return undefined;
}

async function ip(args: string[]): Promise<void> {
  await run('ip', args);
}

async function keygen(file: string): Promise<string> {
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'virt-failover-test', '-f', file]);
  return readFileSync(`${file}.pub`, 'utf8').trim();
}

/**
 * `aInRoot`: host A is this process's own network namespace (the veth's A end lives here, no sshd for A), so
 * that an in-process driver and its QEMUs are host A, as for the demo; B is reachable only through the veth.
 */
export async function makeTwoHosts(opts: { stateBase?: string; aInRoot?: boolean } = {}): Promise<TwoHosts> {
  const why = twoHostsUnavailable();
  if (why) throw new Error(`cannot make two test hosts: ${why}`);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vf-hosts-'));
  await chmod(dir, 0o700);
  const tag = randomBytes(3).toString('hex');
  const subnet = `10.231.${randomBytes(1)[0]!}`;
  const mk = (side: 'A' | 'B', n: number): TestHost => ({
    ns: side === 'A' && opts.aInRoot ? '' : `vf${side}${tag}`,
    addr: `${subnet}.${n}`,
    stateDir: path.join(opts.stateBase ?? dir, `host${side}`),
    sshdPidFile: path.join(dir, `sshd-${side}.pid`),
  });
  const a = mk('A', 1);
  const b = mk('B', 2);
  const made: string[] = [];
  const dispose = async (): Promise<void> => {
    for (const h of [a, b]) {
      const pid = Number(readIf(h.sshdPidFile));
      if (pid > 0 && isProcessAlive(pid)) signalProcess(pid, 'SIGTERM');
    }
    for (const ns of made) {
      if (ns) await ip(['netns', 'del', ns]).catch(() => undefined);
      else await ip(['link', 'del', `vfa${tag}`]).catch(() => undefined); // gone already when B's namespace went
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (const h of [a, b]) {
      if (!h.ns) continue;
      await ip(['netns', 'add', h.ns]);
      made.push(h.ns);
    }
    const va = `vfa${tag}`;
    const vb = `vfb${tag}`;
    await ip(['link', 'add', va, 'type', 'veth', 'peer', 'name', vb]);
    if (!a.ns) made.push(''); // (deleting B's namespace removes the pair, A's end included)
    for (const [h, dev] of [[a, va], [b, vb]] as const) {
      if (h.ns) await ip(['link', 'set', dev, 'netns', h.ns]);
      const n = h.ns ? ['-n', h.ns] : [];
      await ip([...n, 'addr', 'add', `${h.addr}/24`, 'dev', dev]);
      await ip([...n, 'link', 'set', dev, 'up']);
      if (h.ns) await ip([...n, 'link', 'set', 'lo', 'up']);
    }
    const clientKey = path.join(dir, 'client_key');
    const clientPub = await keygen(clientKey);
    writeFileSync(path.join(dir, 'authorized_keys'), `${clientPub}\n`, { mode: 0o600 });
    const knownHosts = path.join(dir, 'known_hosts');
    const known: string[] = [];
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 }); // sshd's privilege-separation dir
    for (const h of a.ns ? [a, b] : [b]) {
      const side = h === a ? 'A' : 'B';
      const hostKey = path.join(dir, `host_key_${side}`);
      known.push(`[${h.addr}]:${SSH_PORT} ${(await keygen(hostKey)).split(' ').slice(0, 2).join(' ')}`);
      const config = path.join(dir, `sshd_config_${side}`);
      writeFileSync(
        config,
        [
          `ListenAddress ${h.addr}`, `Port ${SSH_PORT}`, `HostKey ${hostKey}`, `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
          'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'UsePAM no', 'PermitRootLogin prohibit-password',
          'StrictModes no', `PidFile ${h.sshdPidFile}`, 'AllowStreamLocalForwarding yes', 'X11Forwarding no',
        ].join('\n') + '\n',
      );
      await run('ip', ['netns', 'exec', h.ns, SSHD, '-f', config, '-E', path.join(dir, `sshd-${side}.log`)]);
    }
    writeFileSync(knownHosts, known.join('\n') + '\n', { mode: 0o600 });
    for (const h of [a, b]) mkdirSync(h.stateDir, { recursive: true, mode: 0o700 });
    return {
      dir, a, b, clientKey, knownHosts, dispose,
      uri: (to, command) => {
        // (the paths are ours: no '&', '=', '#' or spaces to escape)
        const q = [`state-dir=${to.stateDir}`, `keyfile=${clientKey}`, `known_hosts=${knownHosts}`, ...(command ? [`command=${command}`] : [])];
        return `ssh://root@${to.addr}:${SSH_PORT}/?${q.join('&')}`;
      },
      inHost: (h, argv) => (h.ns ? ['ip', 'netns', 'exec', h.ns, ...argv] : argv),
    };
  } catch (e) {
    await dispose();
    throw e;
  }
}

function readIf(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return '';
  }
}
