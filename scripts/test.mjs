// `npm test`: install what is needed, build, lint, then run every test file
// (an explicit list: `node --test dir/` would silently find nothing).
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { build, ensureDebianPackages, ensureNodeModules, root, run } from './setup.mjs';

ensureNodeModules();
const missing = ensureDebianPackages();
if (missing.length && process.env.CI) {
  // In CI a missing package is a failure, never a reason to skip the tests that need it.
  console.error(`error: missing Debian packages in CI: ${missing.join(' ')}`);
  process.exit(1);
}
if (missing.length) process.env.VIRT_FAILOVER_MISSING_PACKAGES = missing.join(' ');
build();

console.log('lint: eslint');
if (run(process.execPath, [path.join(root, 'node_modules', 'eslint', 'bin', 'eslint.js'), '--no-error-on-unmatched-pattern', 'src', 'tests', 'bench', 'scripts']) !== 0) {
  console.error('error: eslint failed');
  process.exit(1);
}

function findTests(dir) {
  let out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out = out.concat(findTests(p));
    else if (e.name.endsWith('.test.js')) out.push(p);
  }
  return out;
}
// Fast tests first, the real-QEMU ones last.
const all = findTests(path.join(root, 'dist', 'tests')).sort();
const only = process.argv.slice(2);
const selected = only.length ? all.filter((f) => only.some((o) => f.includes(o))) : all;
const files = [...selected.filter((f) => !f.includes(`${path.sep}e2e${path.sep}`)), ...selected.filter((f) => f.includes(`${path.sep}e2e${path.sep}`))];
if (files.length === 0) {
  console.error('error: no test files found under dist/tests');
  process.exit(1);
}
console.log(`test: ${files.length} test files`);
// A hung test must fail the run, not eat CI's time limit: a watchdog ends the whole run.
const WATCHDOG_MS = Number(process.env.VIRT_FAILOVER_TEST_WATCHDOG_MS ?? 40 * 60 * 1000);
const child = spawn(process.execPath, ['--test', '--test-reporter=tap', '--test-concurrency=1', '--test-timeout=600000', ...files], {
  cwd: root,
  stdio: 'inherit',
  detached: true, // its own process group, so the watchdog reaches QEMUs and helpers too
});
const watchdog = setTimeout(() => {
  console.error(`error: the test run did not finish within ${WATCHDOG_MS / 60000} minutes; stopping it`);
  // Only a real pid: kill(-0) would hit our own group and kill(-1) every process of the user.
  if (Number.isSafeInteger(child.pid) && child.pid > 0) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
  }
}, WATCHDOG_MS);
child.on('exit', (code, signal) => {
  clearTimeout(watchdog);
  process.exit(code ?? (signal ? 1 : 0));
});
