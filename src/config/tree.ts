/**
 * The parsed TOML before validation: plain tables, arrays and scalars. Helpers here find the tables
 * at a location pattern, the notation ./ignored-keys.ts, ./durations.ts and ./fly-forms.ts share:
 * dotted keys, `[]` for every element of an array of tables, `*` for every entry of a table whose
 * keys the user chose (`checks.*`).
 */

export type Tree = Record<string, unknown>;

export const isTable = (v: unknown): v is Tree =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);

export const joinPath = (base: string, key: string): string => (base === '' ? key : `${base}.${key}`);

export interface TableAt {
  table: Tree;
  /** Where it is, as error paths spell it: `services[0].http_checks[1]`. */
  path: string;
}

/** Every table the pattern matches, with its concrete path. `''` is the root. */
export function tablesAt(root: Tree, pattern: string): TableAt[] {
  let found: TableAt[] = [{ table: root, path: '' }];
  for (const segment of pattern === '' ? [] : pattern.split('.')) found = found.flatMap((at) => step(at, segment));
  return found;
}

function step(at: TableAt, segment: string): TableAt[] {
  if (segment === '*') {
    return Object.entries(at.table).flatMap(([k, v]) => (isTable(v) ? [{ table: v, path: joinPath(at.path, k) }] : []));
  }
  const many = segment.endsWith('[]');
  const key = many ? segment.slice(0, -2) : segment;
  const value = at.table[key];
  const path = joinPath(at.path, key);
  if (!many) return isTable(value) ? [{ table: value, path }] : [];
  if (!Array.isArray(value)) return [];
  return value.flatMap((item, i) => (isTable(item) ? [{ table: item, path: `${path}[${i}]` }] : []));
}

/** A deep copy of the parsed TOML, so normalising never changes what the caller passed in. */
export function cloneTree(tree: Tree): Tree {
  return structuredClone(tree);
}
