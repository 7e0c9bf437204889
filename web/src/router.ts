import { useEffect, useState } from 'preact/hooks';
import { Store } from './store.js';

/** The page's path (the dashboard routes in the browser; the daemon serves the same page for all of them). */
export const route = new Store<string>(location.pathname);

addEventListener('popstate', () => route.set(location.pathname));

export function navigate(path: string, replace = false): void {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  route.set(path);
  scrollTo(0, 0);
}

/** A link the router follows without reloading the page (a modified click still opens a new tab). */
export function onLinkClick(e: MouseEvent): void {
  const a = (e.currentTarget as HTMLAnchorElement | null) ?? undefined;
  if (!a || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  navigate(a.getAttribute('href')!);
}

/** Matches a path against a pattern with `:name` segments. */
export function match(pattern: string, path: string): Record<string, string> | undefined {
  const p = pattern.split('/');
  const s = path.split('/');
  if (p.length !== s.length) return undefined;
  const out: Record<string, string> = {};
  for (let i = 0; i < p.length; i++) {
    if (p[i]!.startsWith(':')) out[p[i]!.slice(1)] = decodeURIComponent(s[i]!);
    else if (p[i] !== s[i]) return undefined;
  }
  return out;
}

/**
 * Calls `load` now and every `ms` while the component is shown; `deps` restart it. Returns the last
 * value and the last error (a failed poll keeps the last value on screen).
 */
export function usePoll<T>(load: () => Promise<T>, ms: number, deps: unknown[]): { data: T | undefined; error: Error | undefined; reload: () => void } {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<Error | undefined>(undefined);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const once = async () => {
      try {
        const v = await load();
        if (!live) return;
        setData(v);
        setError(undefined);
      } catch (err) {
        if (live) setError(err as Error);
      }
      if (live) timer = setTimeout(once, ms);
    };
    void once();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [...deps, tick]);
  return { data, error, reload: () => setTick((t) => t + 1) };
}
