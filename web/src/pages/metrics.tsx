import { useEffect, useState } from 'preact/hooks';
import { get } from '../api.js';
import { Chart, type ChartData, type SeriesSpec } from '../charts.js';
import { Link } from '../ui.js';

const enc = encodeURIComponent;

interface Point {
  t: number;
  requests: number;
  errors_5xx: number;
  p50_ms: number | null;
  p95_ms: number | null;
}

interface History {
  interval_ms: number;
  points: Point[];
  releases: Array<{ version: number | null; points: Point[] }>;
}

const HOUR = 3600_000;
const COLORS = ['#1c7ed6', '#d9480f', '#2b8a3e', '#ae3ec9', '#f08c00', '#0c8599'];

/** Adds newer points to what the page has, and forgets those older than an hour. */
function merge(old: History | undefined, next: History): History {
  if (!old) return next;
  const cut = Date.now() - HOUR;
  const join = (a: Point[], b: Point[]) => [...a, ...b].filter((p) => p.t > cut);
  const releases = new Map(old.releases.map((r) => [r.version, r.points]));
  for (const r of next.releases) releases.set(r.version, join(releases.get(r.version) ?? [], r.points));
  return { interval_ms: next.interval_ms, points: join(old.points, next.points), releases: [...releases].map(([version, points]) => ({ version, points })) };
}

/** One series per release, aligned on the app's timestamps (null where a release had no machines). */
function series(h: History, value: (p: Point) => number | null): { spec: SeriesSpec[]; data: ChartData } {
  const xs = h.points.map((p) => p.t / 1000);
  const spec: SeriesSpec[] = [{ label: 'app', color: '#1d2330' }];
  const rows: Array<Array<number | null>> = [h.points.map(value)];
  h.releases.forEach((r, i) => {
    const at = new Map(r.points.map((p) => [p.t, p]));
    spec.push({ label: r.version === null ? 'no release' : `v${r.version}`, color: COLORS[i % COLORS.length]!, dashed: true });
    rows.push(h.points.map((p) => (at.has(p.t) ? value(at.get(p.t)!) : null)));
  });
  return { spec, data: [xs, ...rows] };
}

/** Requests/s, 5xx/s and p50/p95 latency over the last hour, per app and per release, updating live. */
export function MetricsPage(p: { app: string }) {
  const [h, setH] = useState<History | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  useEffect(() => {
    let live = true;
    let have: History | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll = async () => {
      try {
        const since = have?.points.at(-1)?.t;
        const next = await get<History>(`/v1/apps/${enc(p.app)}/metrics/history${since ? `?since=${since}` : ''}`);
        have = merge(have, next);
        if (live) {
          setH(have);
          setError(undefined);
        }
      } catch (err) {
        if (live) setError(err);
      }
      if (live) timer = setTimeout(poll, Math.min(have?.interval_ms ?? 5000, 5000));
    };
    void poll();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [p.app]);
  const perSecond = (n: number) => (h ? (n * 1000) / h.interval_ms : 0);
  return (
    <main>
      <p class="crumbs">
        <Link href={`/apps/${enc(p.app)}`}>{p.app}</Link> / metrics
      </p>
      <h1>Metrics</h1>
      {error !== undefined && <p class="error">{String((error as Error).message)}</p>}
      {h && h.points.length === 0 && <p class="quiet">No points yet: one comes every {h.interval_ms / 1000}s.</p>}
      {h && h.points.length > 0 && (
        <div class="charts" data-testid="metrics" data-points={h.points.length} data-requests={h.points.reduce((n, q) => n + q.requests, 0)}>
          {(
            [
              ['Requests/s', 'chart-rps', (q: Point) => perSecond(q.requests)],
              ['5xx/s', 'chart-5xx', (q: Point) => perSecond(q.errors_5xx)],
              ['p50 latency (ms)', 'chart-p50', (q: Point) => q.p50_ms],
              ['p95 latency (ms)', 'chart-p95', (q: Point) => q.p95_ms],
            ] as const
          ).map(([title, id, value]) => {
            const s = series(h, value);
            return <Chart key={id} title={title} testId={id} time series={s.spec} data={s.data} />;
          })}
        </div>
      )}
    </main>
  );
}
