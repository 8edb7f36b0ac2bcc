// The agent protocol (`virt-failover agent --stdio`): one JSON object per line, both ways.
//
//   source -> agent   {"id":N,"method":"hello","params":{"protocol":1,"version":"0.1.0"}}
//   agent -> source   {"id":N,"result":{...}}  or  {"id":N,"error":{"code":"OPERATION_FAILED","message":"...","detail":"..."}}
//   agent -> source   {"notify":"event","attempt":A,"event":{"event":"RESUME","data":{},"timestamp":{...}}}
//                     {"notify":"exit","attempt":A,"code":null,"signal":"SIGKILL"}
//
// The first request must be `hello`; protocol and tool versions must both match (an older or newer
// virt-failover on the other host would build a different QEMU command line). Errors carry the code of
// our error classes and the very message the local CLI prints, and become the same class again here.
import {
  ConfigUnsupportedError,
  InternalError,
  InvalidArgError,
  NoDomainError,
  OperationFailedError,
  OperationInvalidError,
  OperationUnsupportedError,
  SystemError,
  type VirtFailoverError,
  XmlDetailError,
  XmlError,
  isVirtFailoverError,
} from '../../util/errors.js';

/** Bumped whenever a message changes shape. */
export const AGENT_PROTOCOL = 1;
/** The tool's version (package.json's); both ends must run the same one. */
export const TOOL_VERSION = '0.1.0';

export type AgentMethod = 'hello' | 'prepare' | 'start' | 'qmp' | 'kill' | 'finish' | 'abort';

export interface AgentRequest {
  id: number;
  method: AgentMethod;
  params?: Record<string, unknown>;
}

export interface WireError {
  code: string;
  message: string;
  detail: string;
}

export type AgentResponse = { id: number; result: unknown } | { id: number; error: WireError };

export interface WireEvent {
  event: string;
  data: Record<string, unknown>;
  timestamp?: { seconds: number; microseconds: number };
}

export type AgentNotice =
  | { notify: 'event'; attempt: number; event: WireEvent }
  | { notify: 'exit'; attempt: number; code: number | null; signal: string | null };

export interface HelloParams {
  protocol: number;
  version: string;
}

export interface HelloResult extends HelloParams {
  hostname: string;
}

/** The refusal when the two ends differ; names both versions. */
export function versionMismatch(here: HelloParams, there: HelloParams, where: string): OperationFailedError | undefined {
  if (here.protocol === there.protocol && here.version === there.version) return undefined;
  return new OperationFailedError(
    `virt-failover ${there.version} (agent protocol ${there.protocol}) on ${where} does not match virt-failover ` +
      `${here.version} (agent protocol ${here.protocol}) here: install the same version on both hosts`,
  );
}

export function toWireError(e: unknown): WireError {
  if (isVirtFailoverError(e)) return { code: e.code, message: e.message, detail: e.detail };
  const text = e instanceof Error ? e.message : String(e);
  return { code: 'INTERNAL_ERROR', message: `internal error: ${text}`, detail: text };
}

const BY_CODE: Record<string, (detail: string) => VirtFailoverError> = {
  XML_ERROR: (d) => new XmlError(d),
  XML_DETAIL: (d) => new XmlDetailError(d),
  CONFIG_UNSUPPORTED: (d) => new ConfigUnsupportedError(d),
  OPERATION_UNSUPPORTED: (d) => new OperationUnsupportedError(d),
  OPERATION_INVALID: (d) => new OperationInvalidError(d),
  INTERNAL_ERROR: (d) => new InternalError(d),
  OPERATION_FAILED: (d) => new OperationFailedError(d),
  NO_DOMAIN: (d) => new NoDomainError(d),
  SYSTEM_ERROR: (d) => new SystemError(d),
  INVALID_ARG: (d) => new InvalidArgError(d),
};

/** The agent's error as the class the local CLI would have thrown (same message). */
export function fromWireError(w: WireError): VirtFailoverError {
  const make = BY_CODE[w.code];
  const e = make ? make(String(w.detail)) : new OperationFailedError(String(w.message));
  return e.message === w.message ? e : new OperationFailedError(String(w.message));
}

/** Splits a byte stream into lines (UTF-8 safe) and hands each non-empty one to `onLine`. */
export function lineSplitter(onLine: (line: string) => void): (chunk: Buffer | string) => void {
  let rest = '';
  const decoder = new TextDecoder();
  return (chunk) => {
    rest += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = rest.indexOf('\n')) >= 0) {
      const line = rest.slice(0, nl).trim();
      rest = rest.slice(nl + 1);
      if (line) onLine(line);
    }
  };
}
