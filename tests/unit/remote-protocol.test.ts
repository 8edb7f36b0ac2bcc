// The cross-host transport's pure parts: ssh:// URIs, the ssh argv and remote command line (quoted for the
// remote shell), typed errors across the wire, the version check, and the agent itself over in-memory
// streams (hello first, the mismatch refusal, EOF with nothing prepared).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  AGENT_PROTOCOL,
  TOOL_VERSION,
  agentCommand,
  agentSshArgs,
  fromWireError,
  listenHostFromEnv,
  parseSshUri,
  serveAgent,
  shellQuote,
  toWireError,
  versionMismatch,
} from '../../src/qemu/remote/index.js';
import { ConfigUnsupportedError, InvalidArgError, NoDomainError, OperationFailedError, OperationInvalidError, SystemError } from '../../src/util/errors.js';
import { repoRoot } from '../helpers/paths.js';

test('the tool version is package.json\'s', () => {
  const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  assert.equal(TOOL_VERSION, pkg.version);
});

const URIS: [string, Partial<ReturnType<typeof parseSshUri>>][] = [
  ['ssh://hostB', { label: 'ssh://hostB', host: 'hostB', user: undefined, port: undefined, command: 'virt-failover', noVerify: false }],
  ['ssh://ops@hostB:2222/', { label: 'ssh://ops@hostB:2222', user: 'ops', port: 2222 }],
  ['ssh://[fd00::2]:22?no_verify=1', { label: 'ssh://[fd00::2]:22', host: 'fd00::2', noVerify: true }],
  ['ssh://root@10.0.0.2?state-dir=/srv/vf state&command=/opt/vf/bin/virt-failover&keyfile=/k&known_hosts=/kh',
    { stateDir: '/srv/vf state', command: '/opt/vf/bin/virt-failover', keyfile: '/k', knownHosts: '/kh' }],
];
for (const [uri, want] of URIS) {
  test(`parseSshUri ${uri}`, () => {
    const t = parseSshUri(uri);
    for (const [k, v] of Object.entries(want)) assert.deepEqual(t[k as keyof typeof t], v, k);
  });
}

const BAD: [string, string][] = [
  ['ssh://', 'no host'],
  ['ssh://a:b@host', 'passwords do not go in the URI (ssh uses keys or its agent)'],
  ['ssh://host/system', "unexpected path '/system'"],
  ['ssh://host?socket=/x', "unknown parameter 'socket' (known: state-dir, command, keyfile, known_hosts, no_verify)"],
  ['ssh://host?no_verify=yes', 'no_verify must be 0 or 1'],
  ['ssh://host?state-dir=', "parameter 'state-dir' is empty"],
];
for (const [uri, why] of BAD) {
  test(`parseSshUri refuses ${uri}`, () => {
    assert.throws(() => parseSshUri(uri), (e: unknown) => e instanceof InvalidArgError && e.message === `invalid argument: invalid migration destination '${uri}': ${why}`);
  });
}

test('the remote command is quoted for the remote shell, word by word', () => {
  assert.equal(shellQuote('/usr/bin/virt-failover'), '/usr/bin/virt-failover');
  assert.equal(shellQuote("it's here; rm -rf /"), `'it'\\''s here; rm -rf /'`);
  const t = parseSshUri("ssh://h:2?state-dir=/a b&command=/o p/vf");
  assert.equal(agentCommand(t), "'/o p/vf' --state-dir '/a b' agent --stdio");
  assert.deepEqual(agentSshArgs(t, '/tmp/c'), [
    '-T', '-o', 'BatchMode=yes', '-p', '2', '-o', 'ControlMaster=yes', '-o', 'ControlPath=/tmp/c', '-o', 'ControlPersist=no', '--', 'h', agentCommand(t),
  ]);
});

test('errors cross the wire as the same class with the same message', () => {
  for (const e of [
    new OperationFailedError("domain 'x' is already defined with uuid u"),
    new OperationInvalidError("domain 'x' is already active"),
    new ConfigUnsupportedError("Emulator '/q' does not support machine type 'pc-q35-99'"),
    new SystemError("Cannot access storage file '/d' (as uid:0, gid:0): No such file or directory"),
    new NoDomainError("no domain with matching name 'x'"),
  ]) {
    const back = fromWireError(JSON.parse(JSON.stringify(toWireError(e))));
    assert.equal(back.constructor, e.constructor);
    assert.equal(back.message, e.message);
  }
  const odd = fromWireError({ code: 'SOMETHING_NEW', message: 'from a newer agent', detail: 'x' });
  assert.equal(odd.message, 'operation failed: from a newer agent');
});

test('a version mismatch names both ends', () => {
  assert.equal(versionMismatch({ protocol: 1, version: '0.1.0' }, { protocol: 1, version: '0.1.0' }, 'there'), undefined);
  assert.equal(
    versionMismatch({ protocol: 1, version: '0.1.0' }, { protocol: 2, version: '0.2.0' }, 'ssh://b')?.message,
    'operation failed: virt-failover 0.2.0 (agent protocol 2) on ssh://b does not match virt-failover 0.1.0 (agent protocol 1) here: install the same version on both hosts',
  );
});

test('the agent listens on its own address of the SSH connection', () => {
  assert.equal(listenHostFromEnv({ SSH_CONNECTION: '10.231.5.1 40000 10.231.5.2 2222' }), '10.231.5.2');
  assert.equal(listenHostFromEnv({}), '127.0.0.1');
});

/** Runs the agent over in-memory streams; returns the replies to `lines`, sent one after another. */
async function talk(lines: object[]): Promise<unknown[]> {
  const input = new PassThrough();
  const output = new PassThrough();
  let out = '';
  output.on('data', (d: Buffer) => (out += d.toString()));
  const prepared: unknown[] = [];
  const served = serveAgent({
    input,
    output,
    env: {},
    driver: { prepareIncoming: async (req) => { prepared.push(req); throw new OperationInvalidError("domain 'vm' is already active"); } },
  });
  for (const l of lines) input.write(`${JSON.stringify(l)}\n`);
  await new Promise((r) => setTimeout(r, 50));
  input.end();
  await served;
  return out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

test('agent: hello first; a mismatched source is refused on its next request; typed errors come back', async () => {
  const hello = { id: 1, method: 'hello', params: { protocol: AGENT_PROTOCOL, version: TOOL_VERSION } };
  const prep = { id: 2, method: 'prepare', params: { name: 'vm', uuid: 'u', xml: '<domain/>' } };
  const r1 = await talk([prep]);
  assert.deepEqual(r1, [{ id: 2, error: { code: 'OPERATION_INVALID', message: "Requested operation is not valid: agent: the first request must be 'hello'", detail: "agent: the first request must be 'hello'" } }]);
  const r2 = await talk([hello, prep]);
  assert.equal((r2[0] as { result: { version: string } }).result.version, TOOL_VERSION);
  assert.deepEqual(r2[1], { id: 2, error: { code: 'OPERATION_INVALID', message: "Requested operation is not valid: domain 'vm' is already active", detail: "domain 'vm' is already active" } });
  const r3 = await talk([{ ...hello, params: { protocol: AGENT_PROTOCOL, version: '9.9.9' } }, prep]);
  assert.equal((r3[0] as { result: { version: string } }).result.version, TOOL_VERSION, 'the agent still says its version');
  assert.equal(
    (r3[1] as { error: { message: string } }).error.message,
    `operation failed: virt-failover 9.9.9 (agent protocol ${AGENT_PROTOCOL}) on the source does not match virt-failover ${TOOL_VERSION} (agent protocol ${AGENT_PROTOCOL}) here: install the same version on both hosts`,
  );
});
