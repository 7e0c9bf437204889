import type { IncomingHttpHeaders } from 'node:http';
import type { TrafficPin } from '../core/types.js';
import type { AppTraffic, Backend } from './routing-table.js';

/** The pool's machines in the first of `regions` that has any (`any`: the whole pool). */
export function inRegions(pool: Backend[], regions: string[]): Backend[] {
  for (const r of regions) {
    const kept = r === 'any' ? pool : pool.filter((b) => b.region === r);
    if (kept.length) return kept;
  }
  return [];
}

export function pinMatches(p: TrafficPin, headers: IncomingHttpHeaders): boolean {
  if (p.header && headers[p.header.name.toLowerCase()] === p.header.value) return true;
  if (p.cookie) {
    for (const part of String(headers.cookie ?? '').split(';')) {
      const eq = part.indexOf('=');
      if (eq > 0 && part.slice(0, eq).trim() === p.cookie.name && part.slice(eq + 1).trim() === p.cookie.value) return true;
    }
  }
  return false;
}

/** A pinned request's set, else a set drawn by weight among those with a machine in the pool. */
export function bySet(t: AppTraffic, pool: Backend[], headers: IncomingHttpHeaders | undefined): Backend[] {
  const members = (name: string) => {
    const ids = new Set(t.sets!.find((s) => s.name === name)?.machines ?? []);
    return pool.filter((b) => ids.has(b.machineId));
  };
  const pin = headers ? t.pins?.find((p) => pinMatches(p, headers)) : undefined;
  if (pin) return members(pin.set);
  const live = t.sets!.map((s) => ({ s, m: members(s.name) })).filter((x) => x.s.weight > 0 && x.m.length > 0);
  const total = live.reduce((n, x) => n + x.s.weight, 0);
  let r = Math.random() * total;
  for (const x of live) {
    r -= x.s.weight;
    if (r < 0) return x.m;
  }
  return live.at(-1)?.m ?? [];
}
