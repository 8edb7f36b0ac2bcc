// The domain store: persistent definitions (one canonical XML file per domain, written
// atomically) and the runtime records of started domains (status, pidfile, live XML, log).
// Layout and directory rules: store-paths.ts. Locks: lock.ts.
import { lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { OperationFailedError, OperationInvalidError, SystemError } from '../../util/errors.js';
import { checkPrivateDir, writeFileAtomic } from '../../util/fs.js';
import { isProcessAlive } from '../../util/proc.js';
import { parseXml } from '../../util/xml.js';
import { DOMAIN_STATES, type DomainStateName } from '../../conf/domain-state.js';
import { acquireLock, tryAcquireLock, type HeldLock } from './lock.js';
import { resolveStateDirs, validateDomainName, type ResolveDirsOptions, type StateDirs } from './store-paths.js';

export { validateDomainName } from './store-paths.js';

export { DOMAIN_STATES, DOMAIN_STATE_TEXT, type DomainStateName } from '../../conf/domain-state.js';

/** The runtime record of a domain (NAME.json in the runtime dir). */
export interface DomainStatus {
  format: 1;
  name: string;
  uuid: string;
  state: DomainStateName;
  /** virsh's reason text: 'booted', 'starting up', 'crashed', 'destroyed', ... */
  reason: string;
  /** Present while QEMU runs (or is believed to). */
  id?: number;
  pid?: number;
  /** /proc/PID/stat start time of QEMU, so a reused pid is not mistaken for it. */
  pidStart?: string;
  binary?: string;
  /** Private run directory of this QEMU (sockets). */
  runDir?: string;
  monitor?: string;
  startedAt?: string;
  /** A local migration in progress (written before `migrate` is sent; see reconcile.ts). */
  migration?: MigrationRecord;
  /** Network ports allocated at start (released at stop). */
  ports?: { network: string; uuid: string }[];
}

/** What a crashed `migrate` leaves for the next command to settle (reconcile.ts). */
export interface MigrationRecord {
  /** Random id of this attempt (log lines name it). */
  id: string;
  /** The `migrate` process; while it lives, nobody else settles the migration. */
  owner: { pid: number; start?: string };
  /** The guest ran when the migration began: a source paused by us (or by QEMU) is resumed if it stays. */
  sourceRunning: boolean;
  /** QEMU ids of the failover primaries, to check they are back on a source that keeps the guest. */
  primaries?: string[];
  /** After the destination was adopted: the old source QEMU, still to be ended. */
  leftSource?: { pid: number; pidStart?: string; runDir?: string };
  /** The destination QEMU, recorded as soon as it is spawned. */
  dest?: {
    pid: number;
    pidStart?: string;
    /** Its runtime dir (monitor.sock, master key), the domain's after adoption. */
    runDir: string;
    monitor: string;
    /** The directory of its extra QMP socket (removed at adoption). */
    qmpDir?: string;
  };
}

export interface StoredConfig {
  name: string;
  uuid: string;
  xml: string;
}

const STATUS_FORMAT = 1;
const TMP_RE = /^\.(.+)\.(\d+)\.(\d+)\.tmp$/;

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** name and uuid of a definition, read without the full domain parser. */
export function peekNameUuid(xml: string): { name?: string; uuid?: string } {
  const root = parseXml(xml);
  const name = root.children.find((c) => c.name === 'name')?.text;
  const uuid = root.children.find((c) => c.name === 'uuid')?.text.trim();
  return { name, uuid };
}

export class DomainStore {
  readonly stateDir: string;
  readonly runtimeDir: string;
  readonly configDir: string;

  private constructor(dirs: StateDirs) {
    this.stateDir = dirs.stateDir;
    this.runtimeDir = dirs.runtimeDir;
    this.configDir = path.join(dirs.stateDir, 'domains');
  }

  /** Resolves the directories (see store-paths.ts) and creates them: runtime dir 0700. */
  static open(opts: ResolveDirsOptions = {}): DomainStore {
    const s = new DomainStore(resolveStateDirs(opts));
    try {
      mkdirSync(s.configDir, { recursive: true, mode: 0o700 });
      mkdirSync(s.runtimeDir, { recursive: true, mode: 0o700 });
      mkdirSync(path.join(s.runtimeDir, 'locks'), { recursive: true, mode: 0o700 });
    } catch (e) {
      throw new SystemError(`cannot create state directories under '${s.stateDir}' / '${s.runtimeDir}': ${errText(e)}`, { cause: e });
    }
    // Others must not be able to swap our files, our locks or QEMU's sockets: each directory is
    // ours, no link, not writable by group or others; the runtime ones are made 0700.
    checkPrivateDir(s.stateDir, 'state directory', { uid: opts.uid });
    checkPrivateDir(s.configDir, 'state directory', { uid: opts.uid });
    checkPrivateDir(s.runtimeDir, 'runtime directory', { mode: 0o700, uid: opts.uid });
    checkPrivateDir(path.join(s.runtimeDir, 'locks'), 'runtime directory', { mode: 0o700, uid: opts.uid });
    return s;
  }

  configPath(name: string): string {
    validateDomainName(name);
    return path.join(this.configDir, `${name}.xml`);
  }
  statusPath(name: string): string {
    validateDomainName(name);
    return path.join(this.runtimeDir, `${name}.json`);
  }
  pidPath(name: string): string {
    validateDomainName(name);
    return path.join(this.runtimeDir, `${name}.pid`);
  }
  livePath(name: string): string {
    validateDomainName(name);
    return path.join(this.runtimeDir, `${name}.xml`);
  }
  logPath(name: string): string {
    validateDomainName(name);
    return path.join(this.runtimeDir, `${name}.log`);
  }
  lockPath(name: string): string {
    validateDomainName(name);
    return path.join(this.runtimeDir, 'locks', `${name}.lock`);
  }
  /** The private directory QEMU gets for its sockets; named by UUID to keep socket paths short. */
  runDirFor(uuid: string): string {
    return path.join(this.runtimeDir, uuid);
  }

  // ---- locks ------------------------------------------------------------------------

  /**
   * Exclusive right to change domain `name`; fails at once when another process has it
   * (unless `waitMs`: then waits that long for it, on file events).
   */
  lockDomain(name: string, op: string, opts: { waitMs?: number } = {}): Promise<HeldLock> {
    return acquireLock(this.lockPath(name), {
      op,
      waitMs: opts.waitMs,
      busyError: (o) =>
        new OperationInvalidError(
          `domain '${name}' is locked by another virt-failover process${o ? ` (pid ${o.pid})` : ''}`,
        ),
    });
  }

  /** The lock when free, else undefined (for opportunistic clean-up by readers). */
  tryLockDomain(name: string, op: string): Promise<HeldLock | undefined> {
    return tryAcquireLock(this.lockPath(name), op);
  }

  /** Store-wide lock for name/uuid checks and id allocation; held for milliseconds, so waited for. */
  lockStore(op: string): Promise<HeldLock> {
    return acquireLock(path.join(this.runtimeDir, 'locks', '.store.lock'), {
      op,
      waitMs: 10_000,
      busyError: (o) =>
        new OperationInvalidError(`the domain store is locked by another virt-failover process${o ? ` (pid ${o.pid})` : ''}`),
    });
  }

  // ---- definitions ------------------------------------------------------------------

  readConfig(name: string): string | undefined {
    try {
      return readFileSync(this.configPath(name), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new SystemError(`Failed to read file '${this.configPath(name)}': ${errText(e)}`, { cause: e });
    }
  }

  hasConfig(name: string): boolean {
    try {
      return lstatSync(this.configPath(name)).isFile();
    } catch {
      return false;
    }
  }

  /** Names of all definitions (NAME.xml; temp files and anything else are ignored). */
  configNames(): string[] {
    let entries: string[];
    try {
      entries = readdirSync(this.configDir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new SystemError(`cannot read directory '${this.configDir}': ${errText(e)}`, { cause: e });
    }
    return entries
      .filter((f) => f.endsWith('.xml'))
      .map((f) => f.slice(0, -4))
      .filter((n) => {
        try {
          validateDomainName(n);
          return true;
        } catch {
          return false;
        }
      })
      .sort();
  }

  /** Every definition with its uuid; a file that no longer parses is skipped. */
  listConfigs(): StoredConfig[] {
    const out: StoredConfig[] = [];
    for (const name of this.configNames()) {
      const xml = this.readConfig(name);
      if (xml === undefined) continue;
      try {
        out.push({ name, uuid: peekNameUuid(xml).uuid ?? '', xml });
      } catch {
        // damaged by hand: leave it to dumpxml/start to report
      }
    }
    return out;
  }

  /**
   * Stores the canonical XML of `name` atomically (temp file, fsync, rename, fsync dir),
   * after libvirt's uniqueness rules against definitions and running transient domains:
   *   same uuid, other name -> operation failed: domain 'OTHER' is already defined with uuid U
   *   same name, other uuid -> operation failed: domain 'NAME' already exists with uuid U2
   * Returns whether the definition is new.
   */
  async defineConfig(name: string, uuid: string, xml: string): Promise<{ created: boolean }> {
    validateDomainName(name);
    const lock = await this.lockStore('define');
    try {
      const known = new Map<string, string>(); // name -> uuid
      for (const c of this.listConfigs()) known.set(c.name, c.uuid);
      for (const s of this.listStatuses()) if (s.state !== 'shutoff' && !known.has(s.name)) known.set(s.name, s.uuid);
      for (const [otherName, otherUuid] of known) {
        if (otherUuid === uuid && otherName !== name) {
          throw new OperationFailedError(`domain '${otherName}' is already defined with uuid ${uuid}`);
        }
      }
      const existing = known.get(name);
      if (existing !== undefined && existing !== uuid) {
        throw new OperationFailedError(`domain '${name}' already exists with uuid ${existing}`);
      }
      const created = !this.hasConfig(name);
      this.removeStaleTemps(this.configDir);
      writeFileAtomic(this.configPath(name), xml, 0o600);
      return { created };
    } finally {
      lock.release();
    }
  }

  /** Removes the definition; false when there was none. */
  removeConfig(name: string): boolean {
    try {
      unlinkSync(this.configPath(name));
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw new SystemError(`cannot remove '${this.configPath(name)}': ${errText(e)}`, { cause: e });
    }
  }

  /** Temp files left by a writer that crashed (its pid is gone) are removed. */
  removeStaleTemps(dir: string): void {
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch {
      return;
    }
    for (const f of entries) {
      const m = TMP_RE.exec(f);
      if (m && !isProcessAlive(Number(m[2]))) {
        try {
          unlinkSync(path.join(dir, f));
        } catch {
          // raced with another cleaner
        }
      }
    }
  }

  // ---- runtime records --------------------------------------------------------------

  readStatus(name: string): DomainStatus | undefined {
    let text: string;
    try {
      text = readFileSync(this.statusPath(name), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new SystemError(`Failed to read file '${this.statusPath(name)}': ${errText(e)}`, { cause: e });
    }
    try {
      const s = JSON.parse(text) as DomainStatus;
      if (s.format !== STATUS_FORMAT || s.name !== name || !(DOMAIN_STATES as readonly string[]).includes(s.state)) return undefined;
      return s;
    } catch {
      return undefined;
    }
  }

  writeStatus(s: Omit<DomainStatus, 'format'>): void {
    writeFileAtomic(this.statusPath(s.name), JSON.stringify({ format: STATUS_FORMAT, ...s }, null, 1) + '\n', 0o600);
  }

  removeStatus(name: string): void {
    rmSync(this.statusPath(name), { force: true });
  }

  /** Names that have a status record (started at least once since boot, or transient). */
  statusNames(): string[] {
    let entries: string[];
    try {
      entries = readdirSync(this.runtimeDir);
    } catch {
      return [];
    }
    return entries
      .filter((f) => f.endsWith('.json'))
      .map((f) => f.slice(0, -5))
      .sort();
  }

  listStatuses(): DomainStatus[] {
    const out: DomainStatus[] = [];
    for (const n of this.statusNames()) {
      try {
        const s = this.readStatus(n);
        if (s) out.push(s);
      } catch {
        // unreadable record: ignored
      }
    }
    return out;
  }

  writePidfile(name: string, pid: number): void {
    writeFileAtomic(this.pidPath(name), `${pid}\n`, 0o600);
  }

  writeLiveXml(name: string, xml: string): void {
    writeFileAtomic(this.livePath(name), xml, 0o600);
  }

  readLiveXml(name: string): string | undefined {
    try {
      return readFileSync(this.livePath(name), 'utf8');
    } catch {
      return undefined;
    }
  }

  /** Removes what a run leaves behind (pidfile, live XML, the private run dir); keeps the log. */
  removeRunFiles(name: string, runDir: string | undefined): void {
    rmSync(this.pidPath(name), { force: true });
    rmSync(this.livePath(name), { force: true });
    if (runDir && path.dirname(runDir) === this.runtimeDir) rmSync(runDir, { recursive: true, force: true });
  }

  /**
   * The next domain id (libvirt counts from 1 and does not reuse ids until restart; ours
   * restart when the runtime dir is cleared, i.e. at boot). Never one a live record holds.
   */
  async allocateId(): Promise<number> {
    const lock = await this.lockStore('allocate-id');
    try {
      const file = path.join(this.runtimeDir, 'next-id');
      let next = 1;
      try {
        const v = Number(readFileSync(file, 'utf8').trim());
        if (Number.isSafeInteger(v) && v > 0) next = v;
      } catch {
        // first start since boot
      }
      for (const s of this.listStatuses()) if (s.id !== undefined && s.id >= next) next = s.id + 1;
      writeFileAtomic(file, `${next + 1}\n`, 0o600);
      return next;
    } finally {
      lock.release();
    }
  }
}
