// Replaying a recorded QMP exchange (libvirt's tests/qemucapabilitiesdata/caps_*.replies:
// pretty-printed JSON objects separated by blank lines, each command followed by its reply)
// through the QmpExecutor interface, so probe code can run without QEMU.
import { isDeepStrictEqual } from 'node:util';
import { InternalError } from '../../util/errors.js';
import type { QmpExecutor } from './qmp.js';

export interface RecordedExchange {
  cmd: string;
  args: Record<string, unknown>;
  /** The reply object: `{ return }` or `{ error: { class, desc } }`. */
  reply: { return?: unknown; error?: { class?: string; desc?: string } };
}

/** Split a stream of concatenated JSON values (whitespace between them is ignored). */
export function splitJsonStream(text: string): unknown[] {
  const out: unknown[] = [];
  let depth = 0;
  let inString = false;
  let start = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{' || c === '[') {
      if (depth === 0) start = i;
      depth++;
    } else if (c === '}' || c === ']') {
      depth--;
      if (depth < 0) throw new InternalError(`QMP replies: unbalanced '${c}' at offset ${i}`);
      if (depth === 0) out.push(JSON.parse(text.slice(start, i + 1)));
    } else if (depth === 0 && !/\s/.test(c ?? '')) {
      throw new InternalError(`QMP replies: unexpected '${c}' at offset ${i}`);
    }
  }
  if (depth !== 0 || inString) throw new InternalError('QMP replies: truncated JSON at end of input');
  return out;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Pair each `{"execute": ...}` with the reply that follows it; events are skipped. */
export function parseQmpReplies(text: string): RecordedExchange[] {
  const out: RecordedExchange[] = [];
  let pending: { cmd: string; args: Obj; id: unknown } | undefined;
  for (const v of splitJsonStream(text)) {
    if (!isObj(v)) throw new InternalError('QMP replies: expected a JSON object');
    if ('event' in v) continue;
    if (typeof v.execute === 'string') {
      if (pending) throw new InternalError(`QMP replies: command '${pending.cmd}' has no reply`);
      pending = { cmd: v.execute, args: isObj(v.arguments) ? v.arguments : {}, id: v.id };
      continue;
    }
    if (!('return' in v) && !('error' in v)) throw new InternalError('QMP replies: object is neither a command nor a reply');
    if (!pending) throw new InternalError('QMP replies: reply without a command');
    if (pending.id !== undefined && v.id !== undefined && pending.id !== v.id) {
      throw new InternalError(`QMP replies: reply id ${String(v.id)} does not match command id ${String(pending.id)}`);
    }
    out.push({ cmd: pending.cmd, args: pending.args, reply: v as RecordedExchange['reply'] });
    pending = undefined;
  }
  if (pending) throw new InternalError(`QMP replies: command '${pending.cmd}' has no reply`);
  return out;
}

/**
 * Answers each command with the first not yet used recording of the same command and
 * arguments, in file order; so a command asked twice (libvirt's KVM and TCG passes) gets
 * its recordings in turn. Unrecorded commands throw.
 */
export class ReplayQmpExecutor implements QmpExecutor {
  private readonly used: boolean[];
  /** Every command asked, in order (for tests). */
  readonly calls: { cmd: string; args: Record<string, unknown> }[] = [];

  constructor(private readonly exchanges: readonly RecordedExchange[]) {
    this.used = exchanges.map(() => false);
  }

  static fromText(text: string): ReplayQmpExecutor {
    return new ReplayQmpExecutor(parseQmpReplies(text));
  }

  async execute<T = unknown>(cmd: string, args: Record<string, unknown> = {}): Promise<T> {
    this.calls.push({ cmd, args });
    const i = this.exchanges.findIndex((x, k) => !this.used[k] && x.cmd === cmd && isDeepStrictEqual(x.args, args));
    if (i < 0) throw new InternalError(`no recorded reply for QEMU command '${cmd}' ${JSON.stringify(args)}`);
    this.used[i] = true;
    const { reply } = this.exchanges[i]!;
    if (reply.error) {
      throw new InternalError(`unable to execute QEMU command '${cmd}': ${reply.error.desc ?? reply.error.class ?? 'error'}`);
    }
    return reply.return as T;
  }
}
