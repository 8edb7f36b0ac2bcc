// Shared setup for `npm test` and `npm run demo`: install what the project
// needs (npm packages, Debian packages) and build. No shell strings.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Debian packages the runtime tests and the demo need. */
export const DEBIAN_PACKAGES = ['qemu-system-x86', 'linux-image-amd64', 'busybox-static', 'cpio', 'libxml2-utils', 'libvirt-daemon-system', 'libvirt-clients', 'openssh-server', 'iproute2'];

export function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts });
  if (r.error) throw r.error;
  return r.status ?? 1;
}

function mustRun(cmd, args, opts) {
  const status = run(cmd, args, opts);
  if (status !== 0) {
    console.error(`error: '${cmd} ${args.join(' ')}' failed with status ${status}`);
    process.exit(status);
  }
}

export function ensureNodeModules() {
  // Installed from exactly this lock file? A hash of its content, not its mtime: a fresh checkout or a
  // second work tree has a newer lock file with the same content.
  const marker = path.join(root, 'node_modules', '.virt-failover-lock-sha256');
  const hash = createHash('sha256').update(readFileSync(path.join(root, 'package-lock.json'))).digest('hex');
  if (existsSync(marker) && readFileSync(marker, 'utf8').trim() === hash) return;
  console.log('setup: installing npm packages (npm ci)');
  mustRun('npm', ['ci', '--no-audit', '--no-fund']);
  writeFileSync(marker, `${hash}\n`);
}

function missingDebianPackages(pkgs) {
  return pkgs.filter((p) => {
    const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', p], { encoding: 'utf8' });
    return r.status !== 0 || !r.stdout.includes('install ok installed');
  });
}

/**
 * Installs missing Debian packages when root. Returns the packages still
 * missing (not root, or no dpkg), with a message naming them.
 */
export function ensureDebianPackages(pkgs = DEBIAN_PACKAGES) {
  if (!existsSync('/usr/bin/dpkg-query')) {
    console.log(`setup: not a Debian system; make sure these are installed: ${pkgs.join(' ')}`);
    return [];
  }
  let missing = missingDebianPackages(pkgs);
  if (missing.length === 0) return [];
  if (process.getuid?.() !== 0) {
    console.log(`setup: missing Debian packages: ${missing.join(' ')}`);
    console.log(`setup: run as root: apt-get install -y ${missing.join(' ')}  (tests that need them are skipped)`);
    return missing;
  }
  console.log(`setup: installing Debian packages: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  mustRun('apt-get', ['update', '-qq'], { env });
  mustRun('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { env });
  missing = missingDebianPackages(pkgs);
  if (missing.length) {
    console.error(`error: Debian packages still missing after install: ${missing.join(' ')}`);
    process.exit(1);
  }
  return [];
}

/** tsc, then one bundled executable (dist/virt-failover.mjs) for a fast cold start. */
export function build() {
  mustRun(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json']);
  // esbuild's install step puts its native binary in place of bin/esbuild.
  mustRun(path.join(root, 'node_modules', '.bin', 'esbuild'), [
    path.join('dist', 'src', 'cli', 'bin.js'),
    '--bundle', '--platform=node', '--format=esm', '--target=node20', '--log-level=warning',
    `--outfile=${path.join('dist', 'virt-failover.mjs')}`,
    // CommonJS dependencies inside an ESM bundle need a require().
    "--banner:js=import { createRequire as __vfRequire } from 'node:module'; const require = __vfRequire(import.meta.url);",
  ]);
}
