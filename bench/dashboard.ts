/**
 * bench:dashboard — in Debian's chromium (playwright-core) against a real daemon:
 * 1. first render of an app page with 300 machines: from navigation to the machine table complete;
 * 2. event → DOM latency of the live deploy view during a 10-machine rolling deploy: from the moment
 *    the daemon stored each event (its `at`) to the moment the page showed it (its `data-seq`).
 * Prints p50/p99 and, last, one JSON line. Targets: first render < 500 ms, event → DOM p99 < 200 ms.
 */
import { appDir, startDaemon, WEB_TOML, type TestDaemon } from '../test/helpers.js';
import { launchBrowser, newPage, signIn } from '../test/support/browser.js';

const MACHINES = Number(process.env.BENCH_DASHBOARD_MACHINES ?? 300);
const DEPLOY_MACHINES = Number(process.env.BENCH_DASHBOARD_DEPLOY_MACHINES ?? 10);
const RUNS = Number(process.env.BENCH_DASHBOARD_RUNS ?? 5);

const cleanups: Array<() => unknown> = [];
const t = { after: (fn: () => unknown) => void cleanups.unshift(fn) };

/** The bits of the DOM the page-side functions touch (this project compiles without the DOM's types). */
type Doc = { document: { querySelectorAll(s: string): { length: number }; querySelector(s: string): { getAttribute(a: string): string | null } | null } };

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

async function firstRender(d: TestDaemon, page: import('playwright-core').Page): Promise<number[]> {
  const app = await d.api('POST', '/v1/apps', { app_name: 'big' });
  if (app.status !== 201) throw new Error(`create app: ${JSON.stringify(app.body)}`);
  const image = ((await d.api('GET', '/v1/apps/dash/machines')).body as Array<{ config: { image: string } }>)[0]!.config.image;
  // Machines created but not started: the page's work is the same, and 300 processes would measure the host.
  for (let i = 0; i < MACHINES; i++) {
    const r = await d.api('POST', '/v1/apps/big/machines', { config: { image, init: { cmd: ['node', 'server.js'] }, services: [{ internal_port: 8080, ports: [{ port: 80, handlers: ['http'] }] }], metadata: { fly_process_group: 'web' } }, region: ['ams', 'dfw', 'fra'][i % 3], skip_launch: true });
    if (r.status !== 201) throw new Error(`create machine: ${JSON.stringify(r.body)}`);
  }
  const times: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    await page.goto('about:blank');
    const t0 = Date.now();
    await page.goto(`${d.url}/apps/big`);
    await page.waitForFunction((n) => (globalThis as unknown as Doc).document.querySelectorAll('[data-testid="machines"] tr[data-machine]').length === n, MACHINES, { timeout: 30_000, polling: 'raf' });
    times.push(Date.now() - t0);
  }
  return times;
}

async function eventLatency(d: TestDaemon, page: import('playwright-core').Page, dir: string): Promise<number[]> {
  const r = await d.cliAsync(['deploy', dir, '-e', 'MESSAGE=v2', '--detach', '--json']);
  if (r.status !== 0) throw new Error(r.stderr);
  const id = JSON.parse(r.stdout).id as string;
  await page.goto(`${d.url}/apps/dash/deployments/${id}`);
  // The page's clock and the daemon's are the same host's.
  await page.evaluate(() => {
    const g = globalThis as unknown as Doc & { __seen: Record<string, number>; MutationObserver: new (f: () => void) => { observe(el: unknown, o: unknown): void } };
    const seen: Record<string, number> = (g.__seen = {});
    const watch = (): void => {
      const el = g.document.querySelector('[data-testid="deployment"]');
      if (!el) return void setTimeout(watch, 5);
      const note = () => void (seen[el.getAttribute('data-seq') ?? '0'] ??= Date.now());
      note();
      new g.MutationObserver(note).observe(el, { attributes: true, attributeFilter: ['data-seq'] });
    };
    watch();
  });
  await page.locator('[data-testid="deployment"][data-status="complete"]').waitFor({ timeout: 120_000 });
  const seen = await page.evaluate(() => (globalThis as unknown as { __seen: Record<string, number> }).__seen);
  const events = await fetch(`${d.url}/v1/deployments/${id}/events`, { headers: { authorization: `Bearer ${d.token}` } }).then((x) => x.text());
  const firstSeen = Math.min(...Object.values(seen));
  const out: number[] = [];
  for (const line of events.split('\n').filter(Boolean)) {
    const e = JSON.parse(line) as { seq: number; at: string };
    // Several events can reach the page in one render: an event is shown once the page is at its seq or later.
    const shown = Math.min(...Object.entries(seen).filter(([seq]) => Number(seq) >= e.seq).map(([, at]) => at));
    const at = Date.parse(e.at);
    // Events from before the page was open came with its history, not live.
    if (Number.isFinite(shown) && at > firstSeen) out.push(shown - at);
  }
  return out;
}

async function main(): Promise<void> {
  const d = await startDaemon(t, { args: ['--proxy-workers', '0'] });
  const dir = appDir(t, WEB_TOML('dash'));
  for (const args of [['deploy', dir], ['scale', 'count', String(DEPLOY_MACHINES), '-a', 'dash']]) {
    const r = await d.cliAsync(args);
    if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`);
  }
  const browser = await launchBrowser(t);
  const { page } = await newPage(browser);
  await signIn(page, d);
  const render = await firstRender(d, page);
  const latency = await eventLatency(d, page, dir);
  const figures = {
    machines: MACHINES,
    first_render_ms_p50: pct(render, 50),
    first_render_ms_max: Math.max(...render),
    deploy_machines: DEPLOY_MACHINES,
    events_measured: latency.length,
    event_to_dom_ms_p50: pct(latency, 50),
    event_to_dom_ms_p99: pct(latency, 99),
  };
  console.log(`first render of an app page with ${MACHINES} machines: p50 ${figures.first_render_ms_p50} ms, max ${figures.first_render_ms_max} ms over ${RUNS} loads (target < 500 ms: ${figures.first_render_ms_max < 500 ? 'met' : 'missed'})`);
  console.log(`event → DOM in the live deploy view (${DEPLOY_MACHINES}-machine rolling deploy, ${latency.length} events): p50 ${figures.event_to_dom_ms_p50} ms, p99 ${figures.event_to_dom_ms_p99} ms (target p99 < 200 ms: ${figures.event_to_dom_ms_p99 < 200 ? 'met' : 'missed'})`);
  console.log(JSON.stringify(figures));
}

try {
  await main();
} finally {
  for (const fn of cleanups) await fn();
}
