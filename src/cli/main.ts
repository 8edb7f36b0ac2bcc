// virt-failover: virsh-like verbs for virtio-net failover pairs. The executable is bin.ts.
import { Command, CommanderError } from 'commander';
import { capQuotedValues, isVirtFailoverError } from '../util/errors.js';
import type { CliIo } from './io.js';
import { registerValidate } from './validate.js';
import { registerFormat } from './format.js';
import { registerLint } from './lint.js';
import { registerPair } from './pair.js';
import { registerDomxmlToNative } from './domxml-to-native.js';
import { registerCapabilities } from './capabilities.js';
import { registerDefine } from './define.js';
import { registerUndefine } from './undefine.js';
import { registerList } from './list.js';
import { registerDumpxml } from './dumpxml.js';
import { registerStart } from './start.js';
import { registerShutdown } from './shutdown.js';
import { registerDestroy } from './destroy.js';
import { registerDomstate } from './domstate.js';
import { registerMigrate } from './migrate.js';
import { registerDomfailover } from './domfailover.js';
import { registerDemo } from './demo.js';
import { registerVfs } from './vfs.js';
import { registerNetDefine } from './net-define.js';
import { registerNetUndefine } from './net-undefine.js';
import { registerNetStart } from './net-start.js';
import { registerNetDestroy } from './net-destroy.js';
import { registerNetList } from './net-list.js';
import { registerNetDumpxml } from './net-dumpxml.js';
import { registerNetAutostart } from './net-autostart.js';
import { registerNetPortCreate } from './net-port-create.js';
import { registerNetPortList } from './net-port-list.js';
import { registerNetPortDumpxml } from './net-port-dumpxml.js';
import { registerNetPortDelete } from './net-port-delete.js';
import { registerAgent } from './agent.js';

/** Exit statuses by error code; anything unlisted is 1. */
const EXIT_BY_CODE: Record<string, number> = {};

export async function runCli(argv: string[], io?: Partial<CliIo>): Promise<number> {
  const sink: CliIo = {
    out: io?.out ?? ((s) => process.stdout.write(s)),
    err: io?.err ?? ((s) => process.stderr.write(s)),
    json: argv.includes('--json'),
  };
  let exitCode = 0;
  const setExit = (c: number) => {
    exitCode = Math.max(exitCode, c);
  };
  const program = new Command('virt-failover')
    .description('run and live-migrate VMs with an SR-IOV VF + virtio-net failover pair (libvirt-compatible)')
    .option('--json', 'print machine-readable JSON')
    .option('-c, --connect <uri>', "use the libvirt daemon at URI through virsh (e.g. qemu:///system, qemu+ssh://host/system; env VIRT_FAILOVER_DEFAULT_URI, then LIBVIRT_DEFAULT_URI); default: the embedded driver")
    .option('--state-dir <dir>', 'domain state directory (default: /var/lib/virt-failover as root, else $XDG_DATA_HOME/virt-failover; env VIRT_FAILOVER_STATE_DIR)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => sink.out(s), writeErr: (s) => sink.err(s) })
    .showHelpAfterError(false);
  registerValidate(program, sink, setExit);
  registerFormat(program, sink);
  registerLint(program, sink, setExit);
  registerPair(program, sink, setExit);
  registerDomxmlToNative(program, sink);
  registerCapabilities(program, sink);
  registerDefine(program, sink, setExit);
  registerUndefine(program, sink, setExit);
  registerList(program, sink, setExit);
  registerDumpxml(program, sink, setExit);
  registerStart(program, sink, setExit);
  registerShutdown(program, sink, setExit);
  registerDestroy(program, sink, setExit);
  registerDomstate(program, sink, setExit);
  registerMigrate(program, sink, setExit);
  registerDomfailover(program, sink, setExit);
  registerDemo(program, sink, setExit);
  registerVfs(program, sink, setExit);
  registerNetDefine(program, sink, setExit);
  registerNetUndefine(program, sink, setExit);
  registerNetStart(program, sink, setExit);
  registerNetDestroy(program, sink, setExit);
  registerNetList(program, sink, setExit);
  registerNetDumpxml(program, sink, setExit);
  registerNetAutostart(program, sink, setExit);
  registerNetPortCreate(program, sink, setExit);
  registerNetPortList(program, sink, setExit);
  registerNetPortDumpxml(program, sink, setExit);
  registerNetPortDelete(program, sink, setExit);
  registerAgent(program);
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      // help/version exit 0; usage errors were already printed by commander
      return e.exitCode === 0 ? 0 : 2;
    }
    const message = isVirtFailoverError(e) ? e.message : `internal error: ${capQuotedValues((e as Error)?.message ?? String(e))}`;
    const code = isVirtFailoverError(e) ? e.code : 'INTERNAL_ERROR';
    if (sink.json) sink.out(JSON.stringify({ error: { code, message } }, null, 2) + '\n');
    else sink.err(`error: ${message}\n`);
    return EXIT_BY_CODE[code] ?? 1;
  }
  return exitCode;
}
