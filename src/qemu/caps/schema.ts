// Queries over QEMU's QMP introspection (`query-qmp-schema`), in the path notation libvirt
// uses for its schema-derived capability flags:
//   "COMMAND/arg-type/member/..."  follow a command's argument or return type, then members;
//   "+case"  a variant (union branch) of the current object;
//   "^value" the current type is an enum having this value (terminal);
//   "$feat"  the current entity carries this feature (terminal).
// Arrays are looked through (their element type), alternates match through any branch.

export interface SchemaEntity {
  name: string;
  'meta-type': string;
  'arg-type'?: string;
  'ret-type'?: string;
  'element-type'?: string;
  members?: { name?: string; type?: string }[];
  variants?: { case: string; type: string }[];
  values?: string[];
  features?: string[];
}

export class QmpSchema {
  private readonly byName = new Map<string, SchemaEntity>();

  constructor(entities: readonly SchemaEntity[]) {
    for (const e of entities) this.byName.set(e.name, e);
  }

  hasCommand(name: string): boolean {
    return this.byName.get(name)?.['meta-type'] === 'command';
  }

  /** True when the path resolves to something (see the header for the notation). */
  query(path: string): boolean {
    const [head, ...steps] = path.split('/');
    const first = this.byName.get(head ?? '');
    if (!first || (first['meta-type'] !== 'command' && first['meta-type'] !== 'event')) return false;
    let cur: SchemaEntity[] = [first];
    for (const step of steps) {
      const next: SchemaEntity[] = [];
      for (const e of cur) next.push(...this.step(e, step));
      if (next.length === 0) return false;
      cur = next;
    }
    return true;
  }

  private step(e: SchemaEntity, step: string): SchemaEntity[] {
    if (step === 'arg-type' || step === 'ret-type') {
      const t = e[step];
      return t === undefined ? [] : this.expand(t);
    }
    const sigil = step[0];
    const rest = step.slice(1);
    if (sigil === '$') return e.features?.includes(rest) ? [e] : [];
    if (sigil === '^') {
      if (e['meta-type'] !== 'enum') return [];
      const values = e.values ?? (e.members ?? []).map((m) => m.name ?? '');
      return values.includes(rest) ? [e] : [];
    }
    if (sigil === '+') {
      const v = e.variants?.find((x) => x.case === rest);
      return v ? this.expand(v.type) : [];
    }
    if (e['meta-type'] !== 'object') return [];
    const m = e.members?.find((x) => x.name === step);
    return m?.type === undefined ? [] : this.expand(m.type);
  }

  /** The entity named `type`, looking through arrays and alternates. */
  private expand(type: string, depth = 0): SchemaEntity[] {
    const e = this.byName.get(type);
    if (!e || depth > 16) return [];
    if (e['meta-type'] === 'array' && e['element-type'] !== undefined) return this.expand(e['element-type'], depth + 1);
    if (e['meta-type'] === 'alternate') {
      return [e, ...(e.members ?? []).flatMap((m) => (m.type ? this.expand(m.type, depth + 1) : []))];
    }
    return [e];
  }
}
