// `npm run demo`: install what is needed (npm packages; Debian packages as root), build, then
//  1. the configuration side: the real CLI on examples/ (validate as libvirt would at define, lint the pairs);
//  2. the live side: `virt-failover demo` boots the example failover guest under QEMU, live-migrates it to a
//     second host (as root with ip and sshd: a network namespace with its own sshd) or else to a second QEMU on
//     this host, and reports what QEMU and the guest itself measured (src/cli/demo.ts).
// Exits non-zero with `error: ...` when a step fails. Options: --no-build (use dist/ as it is); anything
// else is passed to `virt-failover demo` (e.g. --trace FILE).
import path from 'node:path';
import { existsSync, readdirSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { build, ensureDebianPackages, ensureNodeModules, root, run } from './setup.mjs';

/** What the live part needs: QEMU, the guest kernel with its modules, a static busybox (cpio for the notes' recipe), and
 * sshd and ip(8) for the second host (without them the demo migrates locally and says why). */
const DEMO_PACKAGES = ['qemu-system-x86', 'linux-image-amd64', 'busybox-static', 'cpio', 'openssh-server', 'iproute2'];

function fail(message) {
  console.error(`error: ${message}`);
  process.exit(1);
}

const args = process.argv.slice(2);
const noBuild = args.includes('--no-build');
const demoArgs = args.filter((a) => a !== '--no-build');

ensureNodeModules();
const missing = ensureDebianPackages(DEMO_PACKAGES);
if (missing.length) {
  fail(`the live demo needs the Debian packages ${missing.join(' ')}; as root: apt-get install -y ${missing.join(' ')}`);
}
const cli = path.join(root, 'dist', 'virt-failover.mjs');
if (!noBuild || !existsSync(cli)) build();

const t0 = performance.now();
const elapsed = () => `${((performance.now() - t0) / 1000).toFixed(1)} s`;
const examples = readdirSync(path.join(root, 'examples')).filter((f) => f.endsWith('.xml')).sort().map((f) => path.join('examples', f));

/** Runs the CLI like a user would; `okStatuses` are the exit statuses this step expects. */
function step(title, cliArgs, okStatuses = [0]) {
  console.log(`\n$ virt-failover ${cliArgs.join(' ')}    # ${title}`);
  const status = run(process.execPath, [cli, ...cliArgs]);
  if (!okStatuses.includes(status)) fail(`'virt-failover ${cliArgs.join(' ')}' exited with status ${status}`);
  return status;
}

console.log('== 1. configuration: the examples as libvirt would see them ==');
// validate exits 1 when a file is invalid (one example is broken on purpose); lint exits 1 on findings.
step('what libvirt would say at virsh define', ['validate', ...examples], [0, 1]);
step('failover pair sanity (aliases, MACs, placement, what QEMU needs)', ['lint', ...examples], [0, 1]);
console.log(`\n(configuration part: ${elapsed()})`);

console.log('\n== 2. live: boot the failover guest, migrate it (to a second host when one can be made), measure what the guest saw ==');
console.log(`$ virt-failover demo ${[path.join('examples', 'failover-emulated-primary.xml'), ...demoArgs].join(' ')}`);
const status = run(process.execPath, [cli, 'demo', path.join('examples', 'failover-emulated-primary.xml'), ...demoArgs]);
if (status !== 0) fail(`the live demo failed (status ${status}), see above`);
console.log(`\ndemo done in ${elapsed()}`);
