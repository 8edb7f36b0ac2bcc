// How libvirt's qemuxmlconftest.c registers each test (read from ../shared, never copied):
// which suffix (x86_64-latest, .abi-update), the expected outcome (parse error, command-line
// failure) and the harness-only options (removed/added caps, a faked host CPU, fd groups...).

/** One DO_TEST_* registration for x86_64 "latest" caps. */
export interface Registration {
  name: string;
  /** e.g. 'x86_64-latest' or 'x86_64-latest.abi-update': the expected files' infix. */
  suffix: string;
  parseError: boolean;
  failure: boolean;
  abiUpdate: boolean;
  /** QEMU_CAPS_* names removed from / added to the caps (ARG_QEMU_CAPS_DEL / ARG_QEMU_CAPS). */
  capsDel: string[];
  capsAdd: string[];
  /** Other ARG_* options and FLAG_* flags the harness applies (fds, host CPU, migration...). */
  harnessOptions: string[];
}

/** The macro's arguments, split at top-level commas (strings and parentheses respected). */
function splitArgs(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (inString) {
      cur += ch;
      if (ch === '\\') cur += text[++i] ?? '';
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') inString = true;
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur.trim());
      cur = '';
      continue;
    }
    cur += ch;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

/** The text between the '(' at `open` and its matching ')'. */
function balanced(src: string, open: number): string {
  let depth = 0;
  let inString = false;
  for (let i = open; i < src.length; i++) {
    const ch = src[i]!;
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') inString = true;
    else if (ch === '(') depth++;
    else if (ch === ')' && --depth === 0) return src.slice(open + 1, i);
  }
  return src.slice(open + 1);
}

const unquote = (s: string): string => s.replace(/^"|"$/g, '');

/** The options after ARG_* markers, up to ARG_END / QEMU_CAPS_LAST. */
function applyOptions(reg: Registration, args: string[]): void {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === 'ARG_END') break;
    if (a === 'ARG_FLAGS') {
      for (const flag of args[++i]!.split('|').map((s) => s.trim())) {
        if (flag === 'FLAG_EXPECT_FAILURE') reg.failure = true;
        else if (flag === 'FLAG_EXPECT_PARSE_ERROR') reg.parseError = true;
        else if (flag !== 'FLAG_ALLOW_DUPLICATE_OUTPUT') reg.harnessOptions.push(flag);
      }
    } else if (a === 'ARG_PARSEFLAGS') {
      if (args[++i]!.includes('ABI_UPDATE')) reg.abiUpdate = true;
    } else if (a === 'ARG_CAPS_ARCH' || a === 'ARG_CAPS_VER') {
      i++;
    } else if (a === 'ARG_QEMU_CAPS' || a === 'ARG_QEMU_CAPS_DEL') {
      const list = a === 'ARG_QEMU_CAPS' ? reg.capsAdd : reg.capsDel;
      while (i + 1 < args.length && args[i + 1] !== 'QEMU_CAPS_LAST') list.push(args[++i]!);
      i++;
    } else if (a.startsWith('ARG_')) {
      reg.harnessOptions.push(a);
    }
  }
}

/**
 * Every registration of qemuxmlconftest.c that runs with x86_64 "latest" caps.
 * Version-pinned (DO_TEST_CAPS_VER*) and other-arch registrations are left out.
 */
export function parseRegistrations(source: string): Registration[] {
  const out: Registration[] = [];
  const re = /\bDO_TEST_(CAPS_[A-Z0-9_]+|FULL)\s*\(/g;
  for (let m = re.exec(source); m; m = re.exec(source)) {
    const macro = m[1]!;
    // Skip the macro definitions themselves.
    const lineStart = source.lastIndexOf('\n', m.index) + 1;
    if (/^#\s*define/.test(source.slice(lineStart, m.index).trim())) continue;
    if (macro === 'CAPS_INTERNAL' || macro.includes('PPC64') || macro.includes('_VER')) continue;
    const args = splitArgs(balanced(source, m.index + m[0].length - 1));
    if (!args[0]?.startsWith('"')) continue;
    const reg: Registration = {
      name: unquote(args[0]), suffix: 'x86_64-latest', parseError: false, failure: false, abiUpdate: false,
      capsDel: [], capsAdd: [], harnessOptions: [],
    };
    let rest: string[];
    if (macro === 'FULL') {
      reg.suffix = unquote(args[1] ?? '').replace(/^\./, '');
      rest = args.slice(2);
      if (!args.includes('"x86_64"') || !args.includes('"latest"')) continue;
    } else if (macro.startsWith('CAPS_ARCH_')) {
      if (unquote(args[1] ?? '') !== 'x86_64') continue;
      rest = args.slice(2);
    } else {
      rest = args.slice(1);
    }
    if (macro.includes('ABI_UPDATE')) {
      reg.abiUpdate = true;
      reg.suffix = 'x86_64-latest.abi-update';
    }
    if (macro.endsWith('PARSE_ERROR')) reg.parseError = true;
    else if (macro.endsWith('FAILURE')) reg.failure = true;
    if (macro === 'CAPS_LATEST_NBDKIT') reg.harnessOptions.push('ARG_NBDKIT_CAPS');
    else applyOptions(reg, rest);
    if (reg.abiUpdate && !reg.suffix.endsWith('abi-update')) reg.suffix = 'x86_64-latest.abi-update';
    out.push(reg);
  }
  return out;
}

/**
 * libvirt's QEMU_CAPS_* enum names that the harness removes or adds, as the flag names of
 * the caps XML. Only the ones x86_64 tests use; any other makes the case harness-only.
 */
export const QEMU_CAPS_FLAG_NAMES: Record<string, string> = {
  QEMU_CAPS_PIIX3_USB_UHCI: 'piix3-usb-uhci',
  QEMU_CAPS_DEVICE_QEMU_XHCI: 'qemu-xhci',
  QEMU_CAPS_NEC_USB_XHCI: 'nec-usb-xhci',
  QEMU_CAPS_ICH9_USB_EHCI1: 'ich9-usb-ehci1',
  QEMU_CAPS_PCI_OHCI: 'pci-ohci',
};
