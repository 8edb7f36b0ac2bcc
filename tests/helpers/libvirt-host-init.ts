// Run inside a test host's fresh network, mount and UTS namespaces (libvirt-host.ts starts it with
// `ip netns exec NS unshare --mount --uts --propagation private node THIS DIR HOSTNAME`): the host's own
// libvirt directories are bind-mounted over the fixed paths, then virtlogd and libvirtd daemonize. They
// keep the namespaces alive after this process exits; the bind mounts are invisible outside.
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';

const [dir, hostname] = process.argv.slice(2);
if (!dir || !hostname) throw new Error('usage: libvirt-host-init DIR HOSTNAME');

const MOUNTS: [string, string][] = [
  ['run', '/run/libvirt'],
  ['lib', '/var/lib/libvirt'],
  ['etc', '/etc/libvirt'],
  ['log', '/var/log/libvirt'],
  ['cache', '/var/cache/libvirt'],
];
for (const [own, fixed] of MOUNTS) {
  mkdirSync(fixed, { recursive: true });
  execFileSync('mount', ['--bind', path.join(dir, own), fixed]);
}
execFileSync('hostname', [hostname]);
execFileSync('ip', ['link', 'set', 'lo', 'up']);
execFileSync('virtlogd', ['-d', '-p', '/run/libvirt/virtlogd.pid']);
execFileSync('libvirtd', ['-d', '-p', '/run/libvirt/libvirtd.pid']);
