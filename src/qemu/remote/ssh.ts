// The transport to another host: the system's OpenSSH client, with the user's own configuration, keys and
// known_hosts, running `virt-failover agent --stdio` there. No daemon or listening socket of ours.
//
//   ssh://[USER@]HOST[:PORT][/][?PARAM=VALUE&...]
//     state-dir=DIR     the agent's --state-dir on the destination
//     command=PATH      the virt-failover executable there (default: virt-failover on the remote PATH)
//     keyfile=PATH      ssh -i PATH                          (as libvirt's qemu+ssh URIs)
//     known_hosts=PATH  ssh -o UserKnownHostsFile=PATH       (as libvirt's qemu+ssh URIs)
//     no_verify=1       ssh -o StrictHostKeyChecking=no      (as libvirt's qemu+ssh URIs)
//
// `--tunnelled` makes that ssh a connection master (ControlMaster, its control socket in a private 0700
// directory) so that each attempt's migration stream can be forwarded, unix socket to unix socket, through
// the same connection (`ssh -O forward -L LOCAL:REMOTE`).
import { spawn } from 'node:child_process';
import { InvalidArgError, OperationFailedError } from '../../util/errors.js';

export interface SshTarget {
  /** The URI without its parameters, for messages: ssh://user@host:port */
  label: string;
  host: string;
  user?: string;
  port?: number;
  stateDir?: string;
  command: string;
  keyfile?: string;
  knownHosts?: string;
  noVerify: boolean;
}

/** The ssh client (VIRT_FAILOVER_SSH overrides it, for a wrapper; it must take OpenSSH's options). */
export function sshBinary(env: NodeJS.ProcessEnv = process.env): string {
  return env.VIRT_FAILOVER_SSH || 'ssh';
}

const PARAMS = new Set(['state-dir', 'command', 'keyfile', 'known_hosts', 'no_verify']);

export function isSshUri(raw: string): boolean {
  return raw.startsWith('ssh://');
}

export function parseSshUri(raw: string): SshTarget {
  const bad = (why: string) => new InvalidArgError(`invalid migration destination '${raw}': ${why}`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw bad('not a URI (ssh://[USER@]HOST[:PORT][?state-dir=DIR&command=PATH])');
  }
  if (url.protocol !== 'ssh:') throw bad("the scheme must be 'ssh'");
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) throw bad('no host');
  if (url.password) throw bad('passwords do not go in the URI (ssh uses keys or its agent)');
  if (url.pathname && url.pathname !== '/') throw bad(`unexpected path '${url.pathname}'`);
  const p = url.searchParams;
  for (const k of p.keys()) if (!PARAMS.has(k)) throw bad(`unknown parameter '${k}' (known: ${[...PARAMS].join(', ')})`);
  const user = url.username ? decodeURIComponent(url.username) : undefined;
  const port = url.port ? Number(url.port) : undefined;
  const noVerify = p.get('no_verify');
  if (noVerify !== null && noVerify !== '0' && noVerify !== '1') throw bad("no_verify must be 0 or 1");
  for (const [k, v] of p) if (v === '') throw bad(`parameter '${k}' is empty`);
  const hostPart = host.includes(':') ? `[${host}]` : host;
  return {
    label: `ssh://${user ? `${user}@` : ''}${hostPart}${port ? `:${port}` : ''}`,
    host,
    user,
    port,
    stateDir: p.get('state-dir') ?? undefined,
    command: p.get('command') ?? 'virt-failover',
    keyfile: p.get('keyfile') ?? undefined,
    knownHosts: p.get('known_hosts') ?? undefined,
    noVerify: noVerify === '1',
  };
}

/** One word for the remote POSIX shell, whatever it contains. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The command line the remote shell runs (ssh hands it over as one string). */
export function agentCommand(t: SshTarget): string {
  const words = [t.command, ...(t.stateDir ? ['--state-dir', t.stateDir] : []), 'agent', '--stdio'];
  return words.map(shellQuote).join(' ');
}

/** OpenSSH options for `t` (before the host); BatchMode: never a password prompt. */
export function sshOptions(t: SshTarget): string[] {
  const o = ['-T', '-o', 'BatchMode=yes'];
  if (t.port) o.push('-p', String(t.port));
  if (t.user) o.push('-l', t.user);
  if (t.keyfile) o.push('-i', t.keyfile, '-o', 'IdentitiesOnly=yes');
  if (t.knownHosts) o.push('-o', `UserKnownHostsFile=${t.knownHosts}`);
  if (t.noVerify) o.push('-o', 'StrictHostKeyChecking=no');
  return o;
}

/** The argv of the agent's ssh; with `controlPath`, that ssh is also the connection master. */
export function agentSshArgs(t: SshTarget, controlPath?: string): string[] {
  const master = controlPath ? ['-o', 'ControlMaster=yes', '-o', `ControlPath=${controlPath}`, '-o', 'ControlPersist=no'] : [];
  return [...sshOptions(t), ...master, '--', t.host, agentCommand(t)];
}

/**
 * Asks the connection master behind `controlPath` to forward the unix socket `local` (created by ssh,
 * mode 0600) to `remote` on the other host, through the same SSH connection.
 */
export async function forwardUnixSocket(t: SshTarget, controlPath: string, local: string, remote: string): Promise<void> {
  if (local.includes(':') || remote.includes(':')) throw new InvalidArgError(`cannot forward a socket path containing ':'`);
  const args = [
    ...sshOptions(t), '-o', `ControlPath=${controlPath}`, '-o', 'StreamLocalBindUnlink=yes', '-O', 'forward', '-L', `${local}:${remote}`,
    '--', t.host,
  ];
  const child = spawn(sshBinary(), args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => {
    child.once('error', () => resolve(null));
    child.once('close', (c) => resolve(c));
  });
  if (code !== 0) {
    throw new OperationFailedError(`cannot tunnel the migration stream through ${t.label}: ssh -O forward: ${stderr.trim() || `exit ${code}`}`);
  }
}
