// The tests find QEMU as the driver does: a name on PATH or an absolute path
// (VIRT_FAILOVER_QEMU=/usr/bin/qemu-system-x86_64 must not read as "missing").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { findQemu, prerequisite, qemuSkip } from '../helpers/qemu-env.js';

test('an absolute path that exists is found, as given', () => {
  assert.equal(findQemu(process.execPath), process.execPath);
  assert.equal(qemuSkip(process.execPath), false);
});

test('a name is looked up on PATH', () => {
  const name = path.basename(process.execPath);
  const dir = path.dirname(process.execPath);
  const saved = process.env.PATH;
  process.env.PATH = `/nonexistent:${dir}`;
  try {
    assert.equal(findQemu(name), path.join(dir, name));
  } finally {
    process.env.PATH = saved;
  }
});

test('a missing binary is a skip reason, or under CI an error', () => {
  assert.equal(findQemu('/nonexistent/qemu-system-x86_64'), undefined);
  const saved = process.env.CI;
  try {
    delete process.env.CI;
    assert.equal(qemuSkip('/nonexistent/qemu-system-x86_64'), '/nonexistent/qemu-system-x86_64 not installed');
    assert.equal(prerequisite(false, 'xz not installed'), 'xz not installed');
    process.env.CI = '1';
    assert.throws(() => qemuSkip('/nonexistent/qemu-system-x86_64'), /not installed \(CI requires it\)/);
  } finally {
    if (saved === undefined) delete process.env.CI;
    else process.env.CI = saved;
  }
});
