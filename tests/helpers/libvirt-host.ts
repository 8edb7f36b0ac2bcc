// A libvirt "host" of the test's own (../shared/notes/two-hosts-on-one-machine.md, measured): its own
// network, mount and UTS namespaces, its own copy of /etc/libvirt (QEMU as root, no security driver, no
// cgroups, no autostarted network), its own /run/libvirt, /var/lib/libvirt, /var/log/libvirt,
// /var/cache/libvirt and host UUID, with virtlogd and libvirtd started in it. The system's libvirt
// configuration and daemons are left alone. Clients reach it through its socket file:
// qemu+unix:///system?socket=DIR/run/libvirt-sock. stop() destroys its domains, ends every process in
// its network namespace and deletes the namespace.
import { execFile, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { appendFileSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './paths.js';
import { signalProcess } from '../../src/util/proc.js';

const run = promisify(execFile);

const TOOLS = ['libvirtd', 'virtlogd', 'virsh', 'ip', 'unshare', 'mount'];

function onPath(tool: string): boolean {
  return (process.env.PATH ?? '/usr/sbin:/usr/bin').split(':').concat(['/usr/sbin', '/sbin']).some((d) => d && existsSync(path.join(d, tool)));
}

/**
 * false when libvirt daemons can run here (root, libvirt-daemon-system, libvirt-clients, iproute2), else
 * why not; under CI a missing prerequisite throws (a failure, never a skip).
 */
export function libvirtSkip(): false | string {
  let why: string | undefined;
  const missing = TOOLS.filter((t) => !onPath(t));
  if (process.getuid?.() !== 0) why = 'libvirt test hosts need root (namespaces, bind mounts, libvirtd)';
  else if (missing.length) why = `${missing.join(', ')} not installed (Debian: libvirt-daemon-system libvirt-clients iproute2)`;
  else if (!existsSync('/etc/libvirt/qemu.conf')) why = '/etc/libvirt/qemu.conf missing (libvirt-daemon-system not installed?)';
  if (why && process.env.CI) throw new Error(`libvirt e2e: ${why} (CI requires it)`);
  return why ?? false;
}

/** The libvirt configuration a test host runs with, appended to its private copy of /etc/libvirt. */
const QEMU_CONF = [
  'user = "root"', // the test guest's kernel and initrd live under /root/.cache
  'group = "root"',
  'security_driver = "none"',
  'cgroup_controllers = [ ]', // two daemons would otherwise share the machine's cgroup tree
  'namespaces = [ ]',
  'remember_owner = 0',
];

export interface LibvirtHostOptions {
  /** Parent directory (the test's temp dir). */
  dir: string;
  /** Host name inside its UTS namespace; also names its netns (with a random suffix). */
  name: string;
  /** A started host whose QEMU capabilities cache this one reuses (same machine, same QEMU). */
  seedCacheFrom?: LibvirtHost;
  /** ms to wait for the daemon to answer (its first QEMU capabilities probe takes seconds under TCG). */
  readyTimeoutMs?: number;
}

export class LibvirtHost {
  readonly uri: string;
  private constructor(
    readonly name: string,
    readonly dir: string,
    readonly netns: string,
  ) {
    this.uri = `qemu+unix:///system?socket=${path.join(dir, 'run', 'libvirt-sock')}`;
  }

  static async start(opts: LibvirtHostOptions): Promise<LibvirtHost> {
    const dir = path.join(opts.dir, `libvirt-${opts.name}`);
    const netns = `vf-${opts.name}-${randomUUID().slice(0, 6)}`;
    const host = new LibvirtHost(opts.name, dir, netns);
    for (const d of ['run', 'lib', 'etc', 'log', 'cache']) mkdirSync(path.join(dir, d), { recursive: true, mode: 0o700 });
    cpSync('/etc/libvirt', path.join(dir, 'etc'), { recursive: true, verbatimSymlinks: true });
    rmSync(path.join(dir, 'etc', 'qemu', 'networks', 'autostart'), { recursive: true, force: true });
    rmSync(path.join(dir, 'etc', 'qemu', 'autostart'), { recursive: true, force: true });
    appendFileSync(path.join(dir, 'etc', 'qemu.conf'), `\n# virt-failover test host\n${QEMU_CONF.join('\n')}\n`);
    appendFileSync(
      path.join(dir, 'etc', 'libvirtd.conf'),
      `\nhost_uuid = "${randomUUID()}"\nlog_outputs = "3:file:/var/log/libvirt/libvirtd.log"\n`,
    );
    if (opts.seedCacheFrom) {
      const caps = path.join(opts.seedCacheFrom.dir, 'cache', 'qemu');
      if (existsSync(caps)) cpSync(caps, path.join(dir, 'cache', 'qemu'), { recursive: true });
    }
    await run('ip', ['netns', 'add', netns]);
    try {
      const init = path.join(repoRoot, 'dist', 'tests', 'helpers', 'libvirt-host-init.js');
      await run('ip', ['netns', 'exec', netns, 'unshare', '--mount', '--uts', '--propagation', 'private', process.execPath, init, dir, opts.name]);
      await host.waitReady(opts.readyTimeoutMs ?? 90_000);
    } catch (e) {
      await host.stop();
      throw new Error(`libvirt host ${opts.name} did not start: ${(e as Error).message}\n--- libvirtd.log:\n${host.log().slice(-3000)}`);
    }
    return host;
  }

  /** Runs virsh against this host; resolves with stdout, rejects with stderr. */
  async virsh(...args: string[]): Promise<string> {
    try {
      return (await run('virsh', ['-c', this.uri, ...args], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } })).stdout;
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      throw new Error(`virsh ${args.join(' ')} on ${this.name}: ${err.stderr?.trim() || err.message}`);
    }
  }

  async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      // 'capabilities' makes the daemon probe QEMU once, here rather than in the first test
      const r = await this.virsh('capabilities').then(() => undefined, (e: Error) => e);
      if (!r) return;
      if (Date.now() > deadline) throw r;
      await new Promise((res) => setTimeout(res, 200));
    }
  }

  log(): string {
    try {
      return readFileSync(path.join(this.dir, 'log', 'libvirtd.log'), 'utf8');
    } catch {
      return '';
    }
  }

  /** Connects this host's network namespace to `other`'s with a veth pair; returns [mine, theirs] addresses. */
  async link(other: LibvirtHost, subnet: string): Promise<[string, string]> {
    const a = `${subnet}.1`;
    const b = `${subnet}.2`;
    const ifA = `vfa${this.netns.slice(-6)}`;
    const ifB = `vfb${other.netns.slice(-6)}`;
    await run('ip', ['link', 'add', ifA, 'netns', this.netns, 'type', 'veth', 'peer', 'name', ifB, 'netns', other.netns]);
    await run('ip', ['-n', this.netns, 'addr', 'add', `${a}/24`, 'dev', ifA]);
    await run('ip', ['-n', other.netns, 'addr', 'add', `${b}/24`, 'dev', ifB]);
    await run('ip', ['-n', this.netns, 'link', 'set', ifA, 'up']);
    await run('ip', ['-n', other.netns, 'link', 'set', ifB, 'up']);
    return [a, b];
  }

  /** Destroys and undefines its domains, ends its daemons and every process in its netns, removes the netns. */
  async stop(): Promise<void> {
    if (existsSync(path.join(this.dir, 'run', 'libvirt-sock'))) {
      const names = await this.virsh('list', '--all', '--name').then((o) => o.split('\n').filter(Boolean), () => [] as string[]);
      for (const n of names) {
        await this.virsh('destroy', n).catch(() => undefined);
        await this.virsh('undefine', n).catch(() => undefined);
      }
    }
    for (const pidFile of ['libvirtd.pid', 'virtlogd.pid']) {
      const pid = Number(readFileSync(path.join(this.dir, 'run', pidFile), 'utf8').trim() || NaN);
      if (Number.isInteger(pid) && pid > 1) signal(pid, 'SIGTERM');
    }
    await this.#waitNetnsEmpty(5000);
    for (const pid of this.#netnsPids()) signal(pid, 'SIGKILL');
    await this.#waitNetnsEmpty(5000);
    spawnSync('ip', ['netns', 'del', this.netns], { stdio: 'ignore' });
  }

  #netnsPids(): number[] {
    const r = spawnSync('ip', ['netns', 'pids', this.netns], { encoding: 'utf8' });
    return (r.stdout ?? '').split('\n').filter((l) => /^\d+$/.test(l)).map(Number);
  }

  async #waitNetnsEmpty(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.#netnsPids().length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  signalProcess(pid, sig); // false when gone already
}

/** Processes of ours still holding a test dir (for after() hooks that must leave nothing behind). */
export function pidsUsing(dir: string): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .map(Number)
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir);
      } catch {
        return false;
      }
    });
}
