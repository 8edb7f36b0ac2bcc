// The network store, beside the domain store:
//   STATE/networks/NAME.xml            persistent definitions (canonical XML, written atomically)
//   STATE/networks/autostart/NAME      present: net-autostart is on
//   RUN/networks/NAME.xml              the live definition of an active network (with the VF pool
//                                      a <pf> expands to); its presence means "active"
//   RUN/networks/NAME.ports/UUID.json  the network's ports: canonical <networkport> XML, and the
//                                      domain it was allocated for at start (if any)
//   RUN/networks/locks/NAME.lock       serialises changes to one network and its ports
import { mkdirSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { InvalidArgError, OperationInvalidError, SystemError } from '../../util/errors.js';
import { writeFileAtomic } from '../../util/fs.js';
import { acquireLock, type HeldLock } from './lock.js';
import type { StateDirs } from './store-paths.js';

/** A port as stored: libvirt's XML plus who it was allocated for. */
export interface StoredPort {
  format: 1;
  uuid: string;
  xml: string;
  /** Set when a domain start allocated it (released when that domain stops); absent: net-port-create. */
  domain?: { name: string; uuid: string };
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Network names become file names: no '/', no control characters, not '.' or '..', <= 200 bytes. */
export function validateNetworkName(name: string): void {
  // eslint-disable-next-line no-control-regex
  if (name === '' || name === '.' || name === '..' || name.includes('/') || /[\u0000-\u001f\u007f]/.test(name) || Buffer.byteLength(name) > 200) {
    throw new InvalidArgError(`network name '${name}' cannot be stored (empty, '.', '..', '/', control characters or over 200 bytes)`);
  }
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function readIfExists(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new SystemError(`Failed to read file '${file}': ${errText(e)}`, { cause: e });
  }
}

function xmlNames(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  return entries.filter((f) => f.endsWith('.xml') && !f.startsWith('.')).map((f) => f.slice(0, -4)).sort();
}

export class NetworkStore {
  readonly configDir: string;
  readonly autostartDir: string;
  readonly runDir: string;
  readonly lockDir: string;

  constructor(dirs: StateDirs) {
    this.configDir = path.join(dirs.stateDir, 'networks');
    this.autostartDir = path.join(this.configDir, 'autostart');
    this.runDir = path.join(dirs.runtimeDir, 'networks');
    this.lockDir = path.join(this.runDir, 'locks');
  }

  /** Directories are made when first written to: a store without networks leaves nothing behind. */
  private ensure(dir: string): void {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw new SystemError(`cannot create directory '${dir}': ${errText(e)}`, { cause: e });
    }
  }

  configPath(name: string): string {
    validateNetworkName(name);
    return path.join(this.configDir, `${name}.xml`);
  }
  livePath(name: string): string {
    validateNetworkName(name);
    return path.join(this.runDir, `${name}.xml`);
  }
  portsDir(name: string): string {
    validateNetworkName(name);
    return path.join(this.runDir, `${name}.ports`);
  }

  /** Exclusive right to change network `name` and its ports; waited for (held for milliseconds). */
  lock(name: string, op: string): Promise<HeldLock> {
    validateNetworkName(name);
    this.ensure(this.lockDir);
    return acquireLock(path.join(this.lockDir, `${name}.lock`), {
      op,
      waitMs: 30_000,
      busyError: (o) => new OperationInvalidError(`network '${name}' is locked by another virt-failover process${o ? ` (pid ${o.pid})` : ''}`),
    });
  }

  readConfig(name: string): string | undefined {
    return readIfExists(this.configPath(name));
  }
  writeConfig(name: string, xml: string): void {
    this.ensure(this.configDir);
    writeFileAtomic(this.configPath(name), xml, 0o600);
  }
  removeConfig(name: string): void {
    rmSync(this.configPath(name), { force: true });
    this.setAutostart(name, false);
  }
  configNames(): string[] {
    return xmlNames(this.configDir);
  }

  readLive(name: string): string | undefined {
    return readIfExists(this.livePath(name));
  }
  writeLive(name: string, xml: string): void {
    this.ensure(this.runDir);
    writeFileAtomic(this.livePath(name), xml, 0o600);
  }
  removeLive(name: string): void {
    rmSync(this.livePath(name), { force: true });
  }
  liveNames(): string[] {
    return xmlNames(this.runDir);
  }

  isAutostart(name: string): boolean {
    return readIfExists(path.join(this.autostartDir, name)) !== undefined;
  }
  setAutostart(name: string, on: boolean): void {
    validateNetworkName(name);
    const file = path.join(this.autostartDir, name);
    if (on) {
      this.ensure(this.autostartDir);
      writeFileSync(file, '', { mode: 0o600 });
    }
    else rmSync(file, { force: true });
  }

  /** The network's ports, by UUID (unreadable records are skipped). */
  listPorts(name: string): StoredPort[] {
    let entries: string[];
    try {
      entries = readdirSync(this.portsDir(name));
    } catch {
      return [];
    }
    const out: StoredPort[] = [];
    for (const f of entries.filter((x) => x.endsWith('.json')).sort()) {
      const p = this.readPort(name, f.slice(0, -5));
      if (p) out.push(p);
    }
    return out;
  }

  readPort(name: string, uuid: string): StoredPort | undefined {
    if (!UUID_RE.test(uuid)) return undefined;
    const text = readIfExists(path.join(this.portsDir(name), `${uuid}.json`));
    if (text === undefined) return undefined;
    try {
      const p = JSON.parse(text) as StoredPort;
      return p.format === 1 && p.uuid === uuid && typeof p.xml === 'string' ? p : undefined;
    } catch {
      return undefined;
    }
  }

  writePort(name: string, port: StoredPort): void {
    if (!UUID_RE.test(port.uuid)) throw new InvalidArgError(`'${port.uuid}' is not a port UUID`);
    mkdirSync(this.portsDir(name), { recursive: true, mode: 0o700 });
    writeFileAtomic(path.join(this.portsDir(name), `${port.uuid}.json`), JSON.stringify(port, null, 1) + '\n', 0o600);
  }

  /** False when there was no such port. */
  removePort(name: string, uuid: string): boolean {
    if (!UUID_RE.test(uuid)) return false;
    try {
      unlinkSync(path.join(this.portsDir(name), `${uuid}.json`));
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw new SystemError(`cannot remove network port '${uuid}': ${errText(e)}`, { cause: e });
    }
  }

  removeAllPorts(name: string): void {
    rmSync(this.portsDir(name), { recursive: true, force: true });
  }
}
