// The domain verbs on a libvirt daemon (`--connect URI`), through virsh. Each result has the shape of the
// embedded driver's (src/cli/backend.ts's DomainBackend, matched structurally), so the CLI prints the same.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { DomainSummary } from '../conf/domain-state.js';
import { parseDomainXml } from '../conf/domain.js';
import { failoverPrimaries } from '../qemu/command/index.js';
import { type FailoverPairState, guestEnabledPciIds, inspectFailoverPairs, pciQdevIds } from '../qemu/migration/index.js';
import { performance } from 'node:perf_hooks';
import { InvalidArgError, OperationFailedError, OperationInvalidError } from '../util/errors.js';
import { decodeXmlBytes, parseXml } from '../util/xml.js';
import { type LibvirtMigrateOptions, type LibvirtMigrateResult, migrateThroughLibvirt } from './migrate.js';
import { VirshMonitor } from './monitor.js';
import { parseDominfo, parseDomstate } from './parse.js';
import { Virsh } from './virsh.js';

export interface LibvirtFailoverReport {
  name: string;
  /** The live XML the pairs were read from. */
  xml: string;
  /** The inactive XML of a persistent domain. */
  definition?: string;
  /** How QEMU was asked. */
  via: string;
  pairs: FailoverPairState[];
}

export class LibvirtBackend {
  readonly kind = 'libvirt' as const;
  readonly uri: string;
  readonly virsh: Virsh;
  /** Where the last migrate() moved a domain (waitPrimariesEnabled looks there). */
  #migratedTo: Virsh | undefined;

  constructor(uri: string, virsh?: Virsh) {
    this.uri = uri;
    this.virsh = virsh ?? new Virsh(uri);
  }

  async define(xml: Uint8Array, _opts: { source?: string }): Promise<{ name: string; uuid: string; created: boolean }> {
    const text = decodeXmlBytes(xml, 'domain');
    const given = parseXml(text, { source: 'domain' }).children.find((c) => c.name === 'name');
    const givenName = given?.text.trim() ?? '';
    const existed = givenName !== '' && (await this.virsh.run(['domuuid', givenName]).then(() => true, () => false));
    // virsh reads the file itself; a private copy (not stdin: Node's stdio pipes are sockets, which
    // /dev/stdin cannot open)
    const dir = await mkdtemp(path.join(os.tmpdir(), 'vf-define-'));
    let out: string;
    try {
      const file = path.join(dir, 'domain.xml');
      await writeFile(file, text, { mode: 0o600 });
      out = await this.virsh.run(['define', file]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const name = /^Domain '(.*)' defined from /m.exec(out)?.[1] ?? givenName;
    const uuid = (await this.virsh.run(['domuuid', name])).trim();
    return { name, uuid, created: !existed };
  }

  async undefine(ref: string): Promise<{ name: string; uuid: string; stillRunning: boolean }> {
    const s = await this.getState(ref);
    await this.virsh.run(['undefine', s.name]);
    return { name: s.name, uuid: s.uuid, stillRunning: s.active };
  }

  async list(opts: { all?: boolean }): Promise<DomainSummary[]> {
    // virsh's own order: active domains by id, then inactive ones by name
    const names = (await this.virsh.run(['list', ...(opts.all ? ['--all'] : []), '--name'])).split('\n').filter((n) => n !== '');
    const out: DomainSummary[] = [];
    for (const n of names) out.push(await this.getState(n).catch(() => undefined as never));
    return out.filter((s) => s !== undefined);
  }

  async getState(ref: string): Promise<DomainSummary> {
    const info = parseDominfo(await this.virsh.run(['dominfo', ref]));
    const name = info.get('Name') ?? ref;
    const { state, reason } = parseDomstate(await this.virsh.run(['domstate', '--reason', name]));
    const id = Number(info.get('Id'));
    const active = Number.isInteger(id) && id > 0;
    const s: DomainSummary = { name, uuid: info.get('UUID') ?? '', state, reason, persistent: info.get('Persistent') === 'yes', active };
    if (active) s.id = id;
    return s;
  }

  async getXml(ref: string, opts: { inactive?: boolean }): Promise<string> {
    const out = await this.virsh.run(['dumpxml', ...(opts.inactive ? ['--inactive'] : []), ref]);
    return out.replace(/\n\n$/, '\n'); // the document without virsh's blank line after each command
  }

  async start(ref: string): Promise<{ name: string; uuid: string; id?: number }> {
    const before = await this.getState(ref);
    await this.virsh.run(['start', before.name]);
    const s = await this.getState(before.name);
    return { name: s.name, uuid: s.uuid, ...(s.id !== undefined ? { id: s.id } : {}) };
  }

  /** ACPI power button, then (unless timeoutMs is 0) wait until libvirt reports the domain shut off. */
  async shutdown(ref: string, opts: { timeoutMs?: number }): Promise<{ name: string; state: 'shutoff' | 'requested' }> {
    const s = await this.getState(ref);
    if (!s.active) throw new OperationInvalidError('domain is not running');
    await this.virsh.run(['shutdown', s.name]);
    const timeoutMs = opts.timeoutMs ?? 60_000;
    if (timeoutMs === 0) return { name: s.name, state: 'requested' };
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if ((await this.getState(s.name).catch(() => undefined))?.active !== true) return { name: s.name, state: 'shutoff' };
      if (Date.now() >= deadline) {
        throw new OperationFailedError(
          `domain '${s.name}' did not shut down within ${Math.round(timeoutMs / 1000)} seconds: ` +
            "the guest did not act on the ACPI power button (use 'destroy' to force it off)",
        );
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  async destroy(ref: string): Promise<{ name: string; state: 'shutoff' | 'requested' }> {
    const s = await this.getState(ref);
    await this.virsh.run(['destroy', s.name]);
    return { name: s.name, state: 'shutoff' };
  }

  /** The failover pairs of the running domain, read through qemu-monitor-command (read-only queries). */
  async failoverStatus(ref: string): Promise<LibvirtFailoverReport> {
    const s = await this.getState(ref);
    if (!s.active) throw new OperationInvalidError('domain is not running');
    const xml = await this.getXml(s.name, {});
    const pairs = failoverPrimaries(parseDomainXml(xml, { source: s.name, inactive: false }));
    const mon = new VirshMonitor(this.virsh, s.name);
    const definition = s.persistent ? await this.getXml(s.name, { inactive: true }) : undefined;
    return { name: s.name, xml, ...(definition !== undefined ? { definition } : {}), via: `virsh qemu-monitor-command (libvirt ${this.uri})`, pairs: await inspectFailoverPairs(mon, pairs) };
  }

  /** `migrate NAME DEST_URI`: our pre-checks, then libvirt's own live migration, followed (migrate.ts). */
  async migrate(ref: string, destination: string, opts: LibvirtMigrateOptions): Promise<LibvirtMigrateResult> {
    const own = [opts.timeoutMs !== undefined && '--timeout', opts.maxDowntimeMs !== undefined && '--max-downtime', opts.bandwidthMiBs !== undefined && '--bandwidth'].filter(Boolean);
    if (own.length) {
      throw new InvalidArgError(
        `${own.join(', ')}: with --connect libvirt migrates; give virsh migrate's own flags with --libvirt-flags ` +
          `(e.g. '--live --persistent --undefinesource --timeout=30 --bandwidth=100')`,
      );
    }
    const s = await this.getState(ref);
    if (!s.active) throw new OperationInvalidError('domain is not running');
    const r = await migrateThroughLibvirt(this, s.name, destination, opts, (dst, n) => new LibvirtBackend(dst.uri, dst).getState(n));
    this.#migratedTo = new Virsh(destination, this.virsh.binary);
    return r;
  }

  /**
   * After a migration: polls query-pci (read-only, every 100 ms, at most `timeoutMs`) on the host the
   * domain migrated to, until the guest's driver has enabled each failover primary in `ids` again.
   */
  async waitPrimariesEnabled(name: string, ids: readonly string[], opts: { timeoutMs: number }): Promise<{ id: string; plugged: boolean; enabledAfterMs: number | null }[]> {
    if (!ids.length) return [];
    const mon = new VirshMonitor(this.#migratedTo ?? this.virsh, name);
    const t0 = performance.now();
    const out = new Map(ids.map((id) => [id, { id, plugged: false, enabledAfterMs: null as number | null }]));
    for (;;) {
      const reply = await mon.execute('query-pci');
      const plugged = pciQdevIds(reply);
      const enabled = guestEnabledPciIds(reply);
      const now = performance.now() - t0;
      for (const u of out.values()) {
        u.plugged = plugged.has(u.id);
        if (u.enabledAfterMs === null && enabled.has(u.id)) u.enabledAfterMs = Math.round(now);
      }
      if ([...out.values()].every((u) => u.enabledAfterMs !== null) || now >= opts.timeoutMs) return [...out.values()];
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** `virsh version`: the daemon's libvirt version as [major, minor, micro], if it says. */
  async daemonVersion(): Promise<[number, number, number] | undefined> {
    const out = await this.virsh.run(['version', '--daemon']);
    const m = /Running against daemon: (\d+)\.(\d+)\.(\d+)/.exec(out);
    return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
  }
}
