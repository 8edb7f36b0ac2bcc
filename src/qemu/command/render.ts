// Text forms of a QEMU command: libvirt's `.args` layout (virCommandToStringBuf with
// line breaks, as its tests store them), one argument per line, and one shell line.
// Quoting follows virBufferEscapeShell: values are quoted only when they contain a
// shell metacharacter, with `'` written as `'\''`.

/** The command line libvirt would run: environment, binary and arguments. */
export interface QemuCommand {
  env: [string, string][];
  binary: string;
  args: string[];
}

const SHELL_META = /[\r\t\n !"#$&'()*;<>?[\\\]^`{|}~]/;

/** Quote one word for /bin/sh the way libvirt does (virBufferEscapeShell). */
export function shellQuote(s: string): string {
  if (s === '') return "''";
  if (!SHELL_META.test(s)) return s;
  return `'${s.replace(/'/g, "'\\''")}'`;
}

/**
 * libvirt keeps an option and its value on one line: a line break goes before
 * every argument except a value that directly follows an option. A value that
 * follows another value breaks only when no option follows it anywhere.
 */
function breakBefore(args: readonly string[], i: number, hadOption: boolean): boolean {
  if (args[i].startsWith('-')) return true;
  if (!hadOption) return true;
  for (let j = i - 1; j < args.length; j++) if (args[j].startsWith('-')) return false;
  return true;
}

/** libvirt's `.args` file: `K=V \` lines, the binary, one option (with its value) per line, final newline. */
export function renderArgsFile(cmd: QemuCommand): string {
  let out = '';
  for (const [k, v] of cmd.env) out += `${k}=${shellQuote(v)} \\\n`;
  out += shellQuote(cmd.binary);
  const all = [cmd.binary, ...cmd.args];
  let hadOption = false;
  for (let i = 1; i < all.length; i++) {
    out += ' ';
    if (breakBefore(all, i, hadOption)) out += '\\\n';
    if (all[i].startsWith('-')) hadOption = true;
    out += shellQuote(all[i]);
  }
  return out + '\n';
}

/** One argument per line (environment first as K=V), unquoted: for reading and diffing. */
export function renderArgvLines(cmd: QemuCommand): string {
  const lines = [...cmd.env.map(([k, v]) => `${k}=${v}`), cmd.binary, ...cmd.args];
  return lines.join('\n') + '\n';
}

/** One shell command line (`K=V ... binary args`), every word quoted as needed. */
export function renderShellLine(cmd: QemuCommand): string {
  const words = [...cmd.env.map(([k, v]) => `${k}=${shellQuote(v)}`), shellQuote(cmd.binary), ...cmd.args.map(shellQuote)];
  return words.join(' ') + '\n';
}
