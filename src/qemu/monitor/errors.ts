// QMP client errors. libvirt reports monitor failures as VIR_ERR_INTERNAL_ERROR, so every
// message carries the 'internal error' prefix; programs branch on `code`, people read `message`.
import { VirtFailoverError } from '../../util/errors.js';

const PREFIX = 'internal error';

/** The monitor's one state field (qemu.qmp's Runstate). */
export const MONITOR_STATES = ['idle', 'connecting', 'running', 'disconnecting'] as const;
export type MonitorState = (typeof MONITOR_STATES)[number];

/** The socket could not be reached, or closed before the handshake finished. */
export class QmpConnectError extends VirtFailoverError {
  override readonly name = 'QmpConnectError';
  readonly code = 'QMP_CONNECT';
  constructor(detail: string, readonly socketPath?: string, options?: { cause?: unknown }) {
    super(PREFIX, detail, options);
  }
}

/** QEMU sent something that is not QMP: garbage, a line over the limit, a bad greeting. */
export class QmpProtocolError extends VirtFailoverError {
  override readonly name = 'QmpProtocolError';
  readonly code = 'QMP_PROTOCOL';
  constructor(detail: string, options?: { cause?: unknown }) {
    super(PREFIX, detail, options);
  }
}

/** QEMU answered a command with `{"error": {"class", "desc"}}`. */
export class QmpCommandError extends VirtFailoverError {
  override readonly name = 'QmpCommandError';
  readonly code = 'QMP_COMMAND';
  constructor(readonly command: string, readonly qmpClass: string, readonly desc: string) {
    super(PREFIX, `unable to execute QEMU command '${command}': ${desc}`);
  }
}

/** A command reply, an event or the handshake did not arrive in time. */
export class QmpTimeoutError extends VirtFailoverError {
  override readonly name = 'QmpTimeoutError';
  readonly code = 'QMP_TIMEOUT';
  constructor(detail: string, readonly timeoutMs: number) {
    super(PREFIX, detail);
  }
}

/** The session ended (EOF, socket error or close()) while something was waiting on it. */
export class QmpDisconnectedError extends VirtFailoverError {
  override readonly name = 'QmpDisconnectedError';
  readonly code = 'QMP_DISCONNECTED';
  constructor(detail = 'QEMU monitor closed unexpectedly', options?: { cause?: unknown }) {
    super(PREFIX, detail, options);
  }
}

/** An operation was called in a state that does not allow it. */
export class QmpStateError extends VirtFailoverError {
  override readonly name = 'QmpStateError';
  readonly code = 'QMP_STATE';
  constructor(readonly current: MonitorState, readonly required: MonitorState) {
    super(PREFIX, stateMessage(current, required));
  }
}

function stateMessage(current: MonitorState, required: MonitorState): string {
  const hint: Record<MonitorState, string> = {
    idle: 'QEMU monitor is not connected',
    connecting: 'QEMU monitor is still connecting',
    running: 'QEMU monitor is already connected',
    disconnecting: 'QEMU monitor is disconnecting',
  };
  return `${hint[current]} (state '${current}', requires '${required}')`;
}

export const QMP_ERROR_CLASSES = [
  QmpConnectError,
  QmpProtocolError,
  QmpCommandError,
  QmpTimeoutError,
  QmpDisconnectedError,
  QmpStateError,
] as const;

export type QmpError = InstanceType<(typeof QMP_ERROR_CLASSES)[number]>;

export function isQmpError(e: unknown): e is QmpError {
  return QMP_ERROR_CLASSES.some((c) => e instanceof c);
}
