// QMP framing: QEMU writes one JSON object per line, ended by "\r\n". Chunks from the socket
// may hold part of a line or several lines; a line may be split anywhere, even inside a UTF-8
// sequence, so bytes are joined before decoding.
import { QmpProtocolError } from './errors.js';

/** The longest line we accept (libvirt caps a monitor reply at 16 MiB too). */
export const QMP_MAX_LINE_BYTES = 16 * 1024 * 1024;

export class LineSplitter {
  #parts: Buffer[] = [];
  #length = 0;

  constructor(readonly maxLineBytes: number = QMP_MAX_LINE_BYTES) {}

  /** Bytes held for a line whose end has not arrived yet. */
  get buffered(): number {
    return this.#length;
  }

  /**
   * Feeds one chunk and calls `onLine` for each complete line (without "\r\n"), in order.
   * Throws QmpProtocolError once the current line exceeds the limit; lines before it have
   * already been delivered. Exceptions from `onLine` propagate and stop the chunk.
   */
  push(chunk: Buffer, onLine: (line: string) => void): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      const piece = chunk.subarray(start, nl < 0 ? chunk.length : nl);
      const total = this.#length + piece.length;
      if (total > this.maxLineBytes) {
        this.#parts = [];
        this.#length = 0;
        throw new QmpProtocolError(`QEMU monitor reply exceeds buffer size (${this.maxLineBytes} bytes)`);
      }
      if (nl < 0) {
        if (piece.length > 0) {
          this.#parts.push(piece);
          this.#length = total;
        }
        return;
      }
      const bytes = this.#length === 0 ? piece : Buffer.concat([...this.#parts, piece], total);
      this.#parts = [];
      this.#length = 0;
      start = nl + 1;
      let line = bytes.toString('utf8');
      if (line.endsWith('\r')) line = line.slice(0, -1);
      onLine(line);
    }
  }
}
