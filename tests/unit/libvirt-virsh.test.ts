// Reading virsh's output back: its error lines as typed errors with libvirt's text, qemu-monitor-event
// lines, domstate/dominfo/domjobinfo, and the virsh migrate flags a user may pass. The inputs are what
// virsh 9.0 printed here (tests/e2e/libvirt-*.test.ts run the real thing).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  jobInfoAsQueryMigrate,
  parseDominfo,
  parseDomstate,
  parseEventLine,
  parseJobValue,
  parseLibvirtFlags,
  virshError,
} from '../../src/libvirt/index.js';

const ERRORS: [stderr: string, code: string, message: string][] = [
  ["error: failed to get domain 'nope'\n", 'NO_DOMAIN', "Domain not found: no domain with matching name 'nope'"],
  ["error: Failed to start domain 'vm'\nerror: Requested operation is not valid: domain is already running\n", 'OPERATION_INVALID', 'Requested operation is not valid: domain is already running'],
  ["error: operation failed: migration out job: canceled by client\n", 'OPERATION_FAILED', 'operation failed: migration out job: canceled by client'],
  ['error: Domain is already active\n', 'LIBVIRT_ERROR', 'Domain is already active'],
  [
    "error: Failed to define domain from /tmp/x.xml\nerror: (domain_definition):2: Couldn't find end of Start Tag domain line 1\n(null)\n^\n",
    'LIBVIRT_ERROR',
    "(domain_definition):2: Couldn't find end of Start Tag domain line 1\n(null)\n^",
  ],
  ["error: failed to connect to the hypervisor\nerror: Failed to connect socket to '/nonexist': No such file or directory\n", 'LIBVIRT_ERROR', "Failed to connect socket to '/nonexist': No such file or directory"],
  ['error: internal error: unable to execute QEMU command \'migrate\': x\n', 'INTERNAL_ERROR', "internal error: unable to execute QEMU command 'migrate': x"],
];

for (const [stderr, code, message] of ERRORS) {
  test(`virshError: ${JSON.stringify(stderr.split('\n').at(-2) ?? stderr).slice(0, 60)}`, () => {
    const e = virshError(stderr, ['start']);
    assert.equal(e.code, code);
    assert.equal(e.message, message);
  });
}

test('qemu-monitor-event lines: event, time, domain, data (or <null>)', () => {
  assert.deepEqual(parseEventLine("event STOP at 1796403587.384596 for domain 'lvfo': <null>"), { event: 'STOP', seconds: 1796403587.384596, domain: 'lvfo', data: {} });
  assert.deepEqual(parseEventLine(`event UNPLUG_PRIMARY at 1.5 for domain 'a b': {"device-id":"ua-primary0"}`), {
    event: 'UNPLUG_PRIMARY', seconds: 1.5, domain: 'a b', data: { 'device-id': 'ua-primary0' },
  });
  assert.equal(parseEventLine('Domain lvfo started'), undefined);
  assert.equal(parseEventLine("event X at 1 for domain 'd': {broken"), undefined);
});

test('domstate --reason and dominfo', () => {
  assert.deepEqual(parseDomstate('running (booted)\n\n'), { state: 'running', reason: 'booted' });
  assert.deepEqual(parseDomstate('shut off (destroyed)\n'), { state: 'shutoff', reason: 'destroyed' });
  assert.deepEqual(parseDomstate('in shutdown (user)'), { state: 'shutdown', reason: 'user' });
  assert.throws(() => parseDomstate('exploded (badly)'), /unknown domain state 'exploded \(badly\)'/);
  const info = parseDominfo('Id:             1\nName:           lvfo\nUUID:           0253708c-795a-46fd-9e1a-1e3ac23f788a\nPersistent:     yes\nMessages:       tainted: custom monitor control commands issued\n');
  assert.deepEqual([info.get('Id'), info.get('Name'), info.get('Persistent')], ['1', 'lvfo', 'yes']);
});

test('domjobinfo values and the query-migrate shape the migration code reads', () => {
  assert.equal(parseJobValue('105.512 MiB'), Math.round(105.512 * 1024 * 1024));
  assert.equal(parseJobValue('1234         ms'), 1234);
  assert.equal(parseJobValue('30.500 MiB/s'), Math.round(30.5 * 1024 * 1024));
  assert.equal(parseJobValue('n/a'), undefined);
  const active = jobInfoAsQueryMigrate(
    'Job type:         Unbounded\nOperation:        Outgoing migration\nTime elapsed:     1520         ms\nData processed:   40.000 MiB\nData remaining:   60.000 MiB\nData total:       100.000 MiB\nMemory processed: 40.000 MiB\nMemory remaining: 60.000 MiB\nMemory total:     100.000 MiB\nMemory bandwidth: 10.000 MiB/s\nIteration:        2\n',
  );
  assert.deepEqual(active, {
    status: 'active',
    'total-time': 1520,
    ram: { transferred: 40 * 1024 * 1024, remaining: 60 * 1024 * 1024, total: 100 * 1024 * 1024, mbps: (10 * 1024 * 1024 * 8) / 1e6, 'dirty-sync-count': 2 },
  });
  const done = jobInfoAsQueryMigrate('Job type:         Completed\nTime elapsed:     3010         ms\nTotal downtime:   256          ms\nMemory processed: 85.000 MiB\n');
  assert.deepEqual([done?.status, done?.['total-time'], done?.downtime], ['completed', 3010, 256]);
  assert.equal(jobInfoAsQueryMigrate('Job type:         None        \n'), undefined);
});

test('--libvirt-flags: virsh migrate flags only, none that change what we follow', () => {
  assert.deepEqual(parseLibvirtFlags('  --live --compressed  --comp-methods=xbzrle '), ['--live', '--compressed', '--comp-methods=xbzrle']);
  assert.throws(() => parseLibvirtFlags('--live ; rm -rf /'), /';' is not a virsh migrate flag/);
  assert.throws(() => parseLibvirtFlags('--p2p'), /virsh migrate flag '--p2p' is not supported here/);
  assert.throws(() => parseLibvirtFlags('--migrateuri=tcp://x'), /not supported here/);
});
