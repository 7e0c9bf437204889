import { useEffect, useState } from 'preact/hooks';

/** A value components can watch: set it anywhere, every component using it re-renders. */
export class Store<T> {
  private readonly watchers = new Set<(v: T) => void>();

  constructor(private current: T) {}

  get value(): T {
    return this.current;
  }

  set(v: T): void {
    if (Object.is(v, this.current)) return;
    this.current = v;
    for (const w of this.watchers) w(v);
  }

  watch(fn: (v: T) => void): () => void {
    this.watchers.add(fn);
    return () => this.watchers.delete(fn);
  }
}

export function useStore<T>(s: Store<T>): T {
  const [v, setV] = useState(s.value);
  useEffect(() => {
    setV(s.value);
    return s.watch(setV);
  }, [s]);
  return v;
}
