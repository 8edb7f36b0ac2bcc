// Input mutation for fuzzing the domain parser: corpus documents damaged at
// the text level and the structure level. Shared by the test and bench/fuzz.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { corpusDir } from './paths.js';
import { isVirtFailoverError } from '../../src/util/errors.js';
import { formatDomain, parseDomainXml } from '../../src/conf/domain.js';
import { validateDomain } from '../../src/conf/validate.js';

export function loadCorpusDocuments(): string[] {
  const dir = path.join(corpusDir, 'qemuxmlconf');
  return readdirSync(dir).filter((f) => f.endsWith('.xml')).sort().map((f) => readFileSync(path.join(dir, f), 'utf8'));
}

const SNIPPETS = [
  '<', '>', '&', "'", '"', '/>', '</devices>', '<teaming/>', "<teaming type='none'/>", "<teaming type='transient'/>",
  "<teaming type='persistent' persistent='ua-x'/>", "<alias name='ua-backup0'/>", "<alias name='bad alias'/>",
  "<mac address='zz:11'/>", "<address type='pci' slot='0x99'/>", '&amp;', '&#0;', '&#x10FFFF;', '\u0000', '\uFFFE',
  '<![CDATA[x]]>', '<!-- c -->', '<?pi x?>', 'unit="TiB"', "index='-1'", "<interface type='hostdev'/>",
  "<hostdev mode='subsystem' type='usb'><teaming type='transient' persistent='ua-a'/></hostdev>",
];

export type Mutation = [kind: number, at: number, len: number, pick: number];

export function mutate(doc: string, muts: Mutation[]): string {
  let s = doc;
  for (const [kind, at0, len, pick] of muts) {
    const at = s.length ? at0 % s.length : 0;
    switch (kind % 6) {
      case 0: s = s.slice(0, at) + s.slice(at + (len % 40)); break; // delete
      case 1: s = s.slice(0, at) + SNIPPETS[pick % SNIPPETS.length] + s.slice(at); break; // insert snippet
      case 2: s = s.slice(0, at) + String.fromCharCode(pick % 0x3000) + s.slice(at + 1); break; // replace a char
      case 3: { // duplicate a line
        const lines = s.split('\n');
        const i = at % lines.length;
        lines.splice(i, 0, lines[i] ?? '');
        s = lines.join('\n');
        break;
      }
      case 4: { // swap two lines (breaks order and nesting)
        const lines = s.split('\n');
        const i = at % lines.length, j = pick % lines.length;
        [lines[i], lines[j]] = [lines[j] ?? '', lines[i] ?? ''];
        s = lines.join('\n');
        break;
      }
      default: s = s.slice(0, at); // truncate
    }
  }
  return s;
}

export const mutationArb = fc.tuple(fc.nat(), fc.array(fc.tuple(fc.nat(), fc.nat(), fc.nat(), fc.nat()), { minLength: 1, maxLength: 4 }));

/**
 * Documents libvirt itself does not reproduce in one round trip, each with the reason. A second
 * round trip that changes the text is accepted only when one of these explains the change
 * exactly; anything else (a formatter that drops an attribute, say) fails the property.
 */
export const KNOWN_SETTLING: { name: string; why: string; explains(first: string, second: string): boolean }[] = [
  {
    name: 'sourceless disk of a non-file type',
    why: "libvirt does not write an empty <source/>, and a <disk> without <source> reads back as type 'file'",
    explains: (first, second) => withSourcelessDisksAsFile(first) === second && first !== second,
  },
];

/** `xml` with every <disk type='...'> that has no <source> turned into type 'file'. */
function withSourcelessDisksAsFile(xml: string): string {
  return xml.replace(/<disk type='[^']*'([^>]*)>([\s\S]*?)<\/disk>/g, (all, rest: string, body: string) =>
    body.includes('<source') ? all : `<disk type='file'${rest}>${body}</disk>`);
}

/** The known libvirt case that explains why `second` (the second round trip) differs from `first`. */
export function settlingCase(first: string, second: string): string | undefined {
  return KNOWN_SETTLING.find((k) => k.explains(first, second))?.name;
}

/**
 * The property: every input either parses or throws our typed error; what parses formats to
 * XML that re-reads to the same text, or settles on the second round trip for one of libvirt's
 * known reasons (KNOWN_SETTLING) and never drifts further.
 */
export function checkDocument(input: string): 'parsed' | 'settled' | 'rejected' {
  let text: string;
  try {
    const dom = parseDomainXml(input, { source: 'fuzz' });
    try {
      validateDomain(dom);
    } catch (e) {
      if (!isVirtFailoverError(e)) throw e;
    }
    text = formatDomain(dom);
  } catch (e) {
    if (isVirtFailoverError(e)) return 'rejected';
    throw new Error(`untyped failure: ${(e as Error)?.stack ?? String(e)}\ninput:\n${input}`);
  }
  const again = formatDomain(parseDomainXml(text, { source: 'fuzz-roundtrip' }));
  if (again === text) return 'parsed';
  if (!settlingCase(text, again)) {
    throw new Error(`the second round trip changed the document, for none of libvirt's known reasons:\n--- first\n${text}\n--- second\n${again}\ninput:\n${input}`);
  }
  const third = formatDomain(parseDomainXml(again, { source: 'fuzz-roundtrip-2' }));
  if (third !== again) throw new Error(`round trip keeps changing the document:\n--- second\n${again}\n--- third\n${third}`);
  return 'settled';
}
