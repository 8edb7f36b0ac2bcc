// Shared CLI plumbing: output sinks, reading domain files, the --json switch.
import { readFileBounded } from '../util/fs.js';
import { type Domain, parseDomainXml } from '../conf/domain.js';

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  json: boolean;
}

export async function readDomainFile(file: string, opts: { inactive?: boolean } = {}): Promise<Domain> {
  const bytes = await readFileBounded(file);
  return parseDomainXml(bytes, { source: file, inactive: opts.inactive ?? true });
}

export function printJson(io: CliIo, value: unknown): void {
  io.out(JSON.stringify(value, jsonReplacer, 2) + '\n');
}

/** Maps and Sets become plain JSON. */
export function jsonReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Map) return Object.fromEntries(value);
  if (value instanceof Set) return [...value];
  return value;
}
