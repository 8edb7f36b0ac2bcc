// Where the command line gets its host-specific values: paths, environment and
// file descriptors. 'libvirt-test' reproduces libvirt's test harness
// (qemuxmlconftest, testutilsqemu.c and its mocks) so our output can be compared
// byte for byte with libvirt's .args files; 'default' is what we really run.
import path from 'node:path';
import { OperationUnsupportedError } from '../../util/errors.js';

export type CommandProfileName = 'default' | 'libvirt-test';

/** What kind of host-side network device an interface needs. */
export type TapKind = 'bridge' | 'ethernet' | 'direct';

export interface CommandProfile {
  readonly name: CommandProfileName;
  /** Per-domain private directory: HOME and XDG_* of QEMU, master key file. */
  readonly domainDir: string;
  /** Environment passed to QEMU before HOME/XDG_* (virCommandAddEnvPassCommon). */
  readonly baseEnv: [string, string][];
  readonly masterKeyPath: string;
  /** The -chardev value of the QMP monitor. */
  readonly monitorChardev: string;
  /** How a listening UNIX socket chardev gets its socket (libvirt passes it opened). */
  listenSocket(path: string): string;
  /** PIPEWIRE_RUNTIME_DIR for a pipewire <audio> without runtimeDir (the user's runtime directory). */
  readonly pipewireRuntimeDir?: string;
  /** Where a virtio channel without a <source path> listens. */
  channelSocket(name: string): string;
  /** File descriptors (as QEMU sees them) of the tap devices of one interface. */
  tapFds(kind: TapKind, type: string, queues: number): string[];
  /** vhost-net file descriptors; only asked for virtio NICs on tap devices. */
  vhostFds(queues: number): string[];
  /** The fd passed with -add-fd for a vDPA device. */
  vdpaFd(type: string): number;
  /** passt's socket path for one interface alias. */
  passtSocket(alias: string): string;
}

const LIBVIRT_TEST_LIBDIR = '/var/lib/libvirt/qemu';

/**
 * libvirt's test harness: the test sets the domain id to -1, its mocks hand out
 * fixed descriptors (monitor 1729, vDPA 1732, ethernet taps from 3, bridge taps
 * from 102, vhost-net from 44).
 */
export function libvirtTestProfile(domainName: string): CommandProfile {
  // virDomainDefGetShortName: the id and at most 20 characters of the name.
  const shortName = `-1-${[...domainName].slice(0, 20).join('')}`;
  const domainDir = `${LIBVIRT_TEST_LIBDIR}/domain-${shortName}`;
  return {
    name: 'libvirt-test',
    domainDir,
    baseEnv: [['LC_ALL', 'C'], ['PATH', '/bin'], ['HOME', domainDir], ['USER', 'test'], ['LOGNAME', 'test']],
    masterKeyPath: `${domainDir}/master-key.aes`,
    monitorChardev: 'socket,id=charmonitor,fd=1729,server=on,wait=off',
    listenSocket: () => 'fd=1729,server=on,wait=off',
    pipewireRuntimeDir: '/run/user/1000',
    channelSocket: (name) => `${LIBVIRT_TEST_LIBDIR}/channel/target/domain-${shortName}/${name}`,
    tapFds(kind, type, queues) {
      const first = kind === 'ethernet' ? 3 : kind === 'bridge' ? 102 : undefined;
      if (first === undefined) throw new OperationUnsupportedError(`interface type '${type}' is not supported in the libvirt test profile`);
      return Array.from({ length: queues }, (_, i) => String(first + i));
    },
    vhostFds(queues) {
      return Array.from({ length: queues }, (_, i) => String(44 + i));
    },
    vdpaFd() {
      return 1732;
    },
    passtSocket(alias) {
      // <passtStateDir>/<domain short name>-<alias>.socket; the short name is "<id>-<name>".
      return `/var/run/libvirt/qemu/passt/${shortName}-${alias}.socket`;
    },
  };
}

/** Our own runtime: everything lives in the per-domain runtime directory. */
export function defaultProfile(runtimeDir: string, env: NodeJS.ProcessEnv = process.env): CommandProfile {
  const base: [string, string][] = [['LC_ALL', 'C']];
  for (const k of ['LD_PRELOAD', 'LD_LIBRARY_PATH', 'PATH']) {
    const v = env[k];
    if (v !== undefined) base.push([k, v]);
  }
  base.push(['HOME', runtimeDir]);
  for (const k of ['USER', 'LOGNAME', 'TMPDIR']) {
    const v = env[k];
    if (v !== undefined) base.push([k, v]);
  }
  const unsupported = (what: string): never => {
    throw new OperationUnsupportedError(`${what} is not supported yet: virt-failover cannot create it for QEMU`);
  };
  return {
    name: 'default',
    domainDir: runtimeDir,
    baseEnv: base,
    masterKeyPath: path.join(runtimeDir, 'master-key.aes'),
    monitorChardev: `socket,id=charmonitor,path=${path.join(runtimeDir, 'monitor.sock').replace(/,/g, ',,')},server=on,wait=off`,
    pipewireRuntimeDir: env.XDG_RUNTIME_DIR,
    listenSocket: (p) => `path=${p.replace(/,/g, ',,')},server=on,wait=off`,
    channelSocket: (name) => path.join(runtimeDir, `channel-${name.replace(/\//g, '_')}.sock`),
    tapFds: (_kind, type) => unsupported(`a tap device for <interface type='${type}'>`),
    vhostFds: () => unsupported('vhost-net'),
    vdpaFd: () => unsupported('a vDPA device'),
    passtSocket: () => unsupported('the passt backend'),
  };
}
