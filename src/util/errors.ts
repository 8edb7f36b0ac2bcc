// Typed errors. Each class mirrors one libvirt error code: `message` is exactly what
// libvirt prints (prefix + detail), `detail` is the text without the prefix.

/** Longest value an error message repeats from its input; longer ones end in "...". */
export const MAX_QUOTED_CHARS = 256;

/** `value` cut to MAX_QUOTED_CHARS characters plus "..." (never splitting a surrogate pair). */
export function capValue(value: string, max = MAX_QUOTED_CHARS): string {
  if (value.length <= max) return value;
  let cut = value.slice(0, max);
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  return `${cut}...`;
}

/**
 * Caps what a message echoes from its input: every '...'-quoted value and every other
 * run without blanks longer than MAX_QUOTED_CHARS (a 2 MB attribute must not make a
 * 2 MB error line). Every error class applies it to its detail.
 */
export function capQuotedValues(text: string, max = MAX_QUOTED_CHARS): string {
  if (text.length <= max) return text;
  return text
    .replace(/'([^']*)'/g, (all, inner: string) => (inner.length > max ? `'${capValue(inner, max)}'` : all))
    .replace(/[^\s']+/g, (run) => (run.length > max + 3 ? capValue(run, max) : run));
}

export abstract class VirtFailoverError extends Error {
  abstract readonly code: string;
  readonly detail: string;
  constructor(prefix: string, detail: string, options?: { cause?: unknown }) {
    const capped = capQuotedValues(detail);
    super(prefix ? `${prefix}: ${capped}` : capped, options);
    this.detail = capped;
  }
}

/** VIR_ERR_XML_ERROR */
export class XmlError extends VirtFailoverError {
  override readonly name = 'XmlError';
  readonly code = 'XML_ERROR';
  constructor(detail: string, readonly line?: number, readonly column?: number) {
    super('XML error', detail);
  }
}

/** VIR_ERR_XML_DETAIL: libvirt prints the detail alone (its format is "%s"). */
export class XmlDetailError extends VirtFailoverError {
  override readonly name = 'XmlDetailError';
  readonly code = 'XML_DETAIL';
  constructor(detail: string) {
    super('', detail);
  }
}

/** VIR_ERR_CONFIG_UNSUPPORTED */
export class ConfigUnsupportedError extends VirtFailoverError {
  override readonly name = 'ConfigUnsupportedError';
  readonly code = 'CONFIG_UNSUPPORTED';
  constructor(detail: string) {
    super('unsupported configuration', detail);
  }
}

/** VIR_ERR_OPERATION_UNSUPPORTED */
export class OperationUnsupportedError extends VirtFailoverError {
  override readonly name = 'OperationUnsupportedError';
  readonly code = 'OPERATION_UNSUPPORTED';
  constructor(detail: string) {
    super('Operation not supported', detail);
  }
}

/** VIR_ERR_OPERATION_INVALID */
export class OperationInvalidError extends VirtFailoverError {
  override readonly name = 'OperationInvalidError';
  readonly code = 'OPERATION_INVALID';
  constructor(detail: string) {
    super('Requested operation is not valid', detail);
  }
}

/** VIR_ERR_INTERNAL_ERROR */
export class InternalError extends VirtFailoverError {
  override readonly name = 'InternalError';
  readonly code = 'INTERNAL_ERROR';
  constructor(detail: string) {
    super('internal error', detail);
  }
}

/** VIR_ERR_OVERFLOW */
export class NumericalOverflowError extends VirtFailoverError {
  override readonly name = 'NumericalOverflowError';
  readonly code = 'OVERFLOW';
  constructor(detail: string) {
    super('numerical overflow', detail);
  }
}

/** VIR_ERR_OPERATION_FAILED */
export class OperationFailedError extends VirtFailoverError {
  override readonly name = 'OperationFailedError';
  readonly code = 'OPERATION_FAILED';
  constructor(detail: string, options?: { cause?: unknown }) {
    super('operation failed', detail, options);
  }
}

/** VIR_ERR_NO_DOMAIN */
export class NoDomainError extends VirtFailoverError {
  override readonly name = 'NoDomainError';
  readonly code = 'NO_DOMAIN';
  constructor(detail: string) {
    super('Domain not found', detail);
  }
}

/** VIR_ERR_NO_NETWORK */
export class NoNetworkError extends VirtFailoverError {
  override readonly name = 'NoNetworkError';
  readonly code = 'NO_NETWORK';
  constructor(detail: string) {
    super('Network not found', detail);
  }
}

/** VIR_ERR_NO_NETWORK_PORT */
export class NoNetworkPortError extends VirtFailoverError {
  override readonly name = 'NoNetworkPortError';
  readonly code = 'NO_NETWORK_PORT';
  constructor(detail: string) {
    super('network port not found', detail);
  }
}

/** VIR_ERR_SYSTEM_ERROR: file and process failures; the detail names the path. */
export class SystemError extends VirtFailoverError {
  override readonly name = 'SystemError';
  readonly code = 'SYSTEM_ERROR';
  constructor(detail: string, options?: { cause?: unknown }) {
    super('', detail, options);
  }
}

/** VIR_ERR_INVALID_ARG: bad command-line or API arguments. */
export class InvalidArgError extends VirtFailoverError {
  override readonly name = 'InvalidArgError';
  readonly code = 'INVALID_ARG';
  constructor(detail: string) {
    super('invalid argument', detail);
  }
}

/**
 * An error libvirt reported through its client tools (virsh) that none of the classes above mirrors:
 * the message is libvirt's own text.
 */
export class LibvirtError extends VirtFailoverError {
  override readonly name = 'LibvirtError';
  readonly code = 'LIBVIRT_ERROR';
  constructor(detail: string, options?: { cause?: unknown }) {
    super('', detail, options);
  }
}

export function isVirtFailoverError(e: unknown): e is VirtFailoverError {
  return e instanceof VirtFailoverError;
}
