import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { appDir, cliAsync, loadLoop, proxyGet, startDaemon, waitUntil, WEB_TOML, type TestDaemon } from './helpers.js';
import { ARTIFACTS, deploymentShows, launchBrowser, loginLink, newPage, screenshot, signIn } from './support/browser.js';
import { Firefox } from './support/firefox.js';
import { freePort } from './support/pebble.js';

/** Markup that would run if the page ever put text into the DOM as HTML. */
const HTML = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>';

/** The test app: says who it is, prints markup to its log, boots after BOOT_MS, fails FAIL_RATE of requests. */
const SERVER = `const { createServer } = require('node:http');
const html = ${JSON.stringify(HTML)};
console.log('booting ' + html);
const server = createServer((req, res) => {
  if (req.url === '/health') { if (process.env.UNHEALTHY) res.writeHead(500); return res.end(process.env.UNHEALTHY ? 'not today' : 'ok'); }
  if (req.url === '/html') { res.writeHead(500); return res.end(html); }
  if (req.url === '/spam') { for (let i = 0; i < 10000; i++) console.log('spam ' + i); return res.end('ok'); }
  if (Math.random() < Number(process.env.FAIL_RATE || 0)) { res.writeHead(500); return res.end('failing'); }
  res.end(process.env.MESSAGE + ' ' + process.env.FLY_MACHINE_ID + '\\n');
});
setTimeout(() => server.listen(Number(process.env.PORT), '127.0.0.1'), Number(process.env.BOOT_MS || 0));
process.on('SIGINT', () => process.exit(0));
`;

const TOML = (app: string, extra = '') => WEB_TOML(app, `\n[deploy]\nrelease_command = "node release.js"\n${extra}`);

function dashApp(t: { after(fn: () => unknown): void }, app: string, extra = ''): string {
  return appDir(t, TOML(app, extra), { 'server.js': SERVER, 'release.js': `console.log(${JSON.stringify(`migrating ${HTML}`)});\n` });
}

async function deployed(t: { after(fn: () => unknown): void }, d: TestDaemon, app: string, extra = ''): Promise<string> {
  const dir = dashApp(t, app, extra);
  const r = await d.cliAsync(['deploy', dir]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const scale = await d.cliAsync(['scale', 'count', '2', '-a', app]);
  assert.equal(scale.status, 0, scale.stdout + scale.stderr);
  return dir;
}

/** The deployment of `release` once it is running in `phase`. */
async function runningDeploy(d: TestDaemon, app: string, release: number, phase: string): Promise<{ id: string }> {
  type D = { id: string; status: string; phase: string; release: number };
  let found: D | undefined;
  await waitUntil(async () => {
    found = ((await d.api('GET', `/v1/apps/${app}/deployments`)).body as D[]).find((x) => x.status === 'running' && x.release === release && x.phase === phase);
    return found !== undefined;
  }, 20_000, `release ${release} deploying, in its ${phase} phase`);
  return found!;
}

const xssRan = (page: Page) => page.evaluate(() => (globalThis as unknown as { __xss?: number }).__xss);

test('sign-in: the one-time link works once, a wrong code or token is one line, the cookie is HttpOnly and SameSite=Strict, changes need the CSRF token, sign-out ends the session', async (t) => {
  const d = await startDaemon(t);
  const browser = await launchBrowser(t);
  const { page, errors } = await newPage(browser);
  const link = await loginLink(d);
  assert.match(link, new RegExp(`^${d.url}/login#code=`));
  // With a display, `hangar dashboard` hands the link to the desktop's opener (a stand-in here).
  const bin = mkdtempSync(join(tmpdir(), 'hangar-opener-'));
  t.after(() => rmSync(bin, { recursive: true, force: true }));
  writeFileSync(join(bin, 'xdg-open'), `#!/bin/sh\necho "$1" > ${join(bin, 'opened')}\n`, { mode: 0o755 });
  const opened = await cliAsync({ ...d.env, DISPLAY: ':99', PATH: `${bin}:${process.env.PATH}` }, ['dashboard']);
  assert.equal(opened.status, 0, opened.stderr);
  assert.match(opened.stdout, /opening it in your browser/);
  await waitUntil(() => existsSync(join(bin, 'opened')), 5000, 'the opener called');
  assert.match(readFileSync(join(bin, 'opened'), 'utf8'), new RegExp(`^${d.url}/login#code=\\S+$`, 'm'));
  await page.goto(link);
  await page.getByRole('heading', { name: 'Apps' }).waitFor({ timeout: 10_000 });
  assert.equal(new URL(page.url()).pathname, '/', 'the code leaves the address bar');
  const cookie = (await page.context().cookies()).find((c) => c.name === 'hangar_session');
  assert.ok(cookie, 'a session cookie');
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Strict');
  assert.equal(await page.evaluate(() => (globalThis as unknown as { document: { cookie: string } }).document.cookie.includes('hangar_session')), false, 'scripts cannot read it');

  // A change without the session's CSRF token is refused, and nothing happens.
  const refused = await page.evaluate(async () => {
    const r = await fetch('/v1/apps', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ app_name: 'csrf-app' }) });
    return { status: r.status, body: (await r.json()) as { code: string } };
  });
  assert.equal(refused.status, 403);
  assert.equal(refused.body.code, 'csrf_failed');
  assert.equal((await d.api('GET', '/v1/apps/csrf-app')).status, 404, 'no app was created');
  const allowed = await page.evaluate(async () => {
    const s = (await (await fetch('/ui/session')).json()) as { csrf: string };
    const r = await fetch('/v1/apps', { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': s.csrf }, body: JSON.stringify({ app_name: 'csrf-app' }) });
    return r.status;
  });
  assert.equal(allowed, 201, 'with the token it goes through');
  // Names are never markup: the API refuses them before any page could show one.
  assert.equal((await d.api('POST', '/v1/apps', { app_name: '<b>x</b>' })).status, 400);

  // The same link again (another browser profile): refused, with what to do.
  const other = await browser.newContext();
  const p2 = await other.newPage();
  await p2.goto(link);
  const alert = p2.getByRole('alert');
  await alert.waitFor({ timeout: 10_000 });
  assert.match(await alert.innerText(), /this login code is wrong, expired or already used \(run `hangar dashboard` for a new login link/);
  await p2.getByLabel('API token').fill('not-the-token');
  await p2.getByRole('button', { name: 'Sign in' }).click();
  await p2.getByText('that is not the API token').waitFor({ timeout: 5000 });
  await p2.getByLabel('API token').fill(d.token);
  await p2.getByRole('button', { name: 'Sign in' }).click();
  await p2.getByRole('heading', { name: 'Apps' }).waitFor({ timeout: 10_000 });
  await p2.getByRole('link', { name: 'csrf-app', exact: true }).waitFor({ timeout: 5000 });
  await screenshot(p2, 'apps');

  // Sign-out ends the session on the daemon, not only in this browser.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('API token').waitFor({ timeout: 5000 });
  const stale = await fetch(`${d.url}/v1/apps`, { headers: { cookie: `hangar_session=${cookie.value}` } });
  assert.equal(stale.status, 401);
  assert.equal(((await stale.json()) as { code: string }).code, 'session_ended');
  assert.deepEqual(errors, []);
});

test('app page: machines, a CLI deploy followed to completion, a rollback from the page, markup in logs and check output shown as text, live metrics', async (t) => {
  const d = await startDaemon(t, { env: { HANGAR_METRICS_INTERVAL: '1s' } });
  const dir = await deployed(t, d, 'dash');
  const browser = await launchBrowser(t);
  const { page, errors } = await newPage(browser);
  await signIn(page, d);
  await page.getByRole('link', { name: 'dash', exact: true }).click();
  const ids = ((await d.api('GET', '/v1/apps/dash/machines')).body as Array<{ id: string }>).map((m) => m.id);
  for (const id of ids) await page.locator(`[data-machine="${id}"]`).waitFor({ timeout: 5000 });
  assert.match(await page.getByTestId('machines').innerText(), /web · ams \(2\)/);
  await screenshot(page, 'app');
  // A phone's width: nothing runs off the side.
  const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, storageState: await page.context().storageState() });
  await phone.goto(`${d.url}/apps/dash`);
  await phone.locator(`[data-machine="${ids[0]}"]`).waitFor({ timeout: 5000 });
  const overflow = await phone.evaluate(() => (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document.documentElement.scrollWidth);
  assert.ok(overflow <= 390, `the page is ${overflow} px wide on a 390 px screen`);
  await screenshot(phone, 'app-phone');
  await phone.close();

  // A deploy started from the CLI: the page links to it while it runs and follows it to the end.
  // Each machine boots for 2.5 s: long enough to see one being updated.
  const deploy = d.cliAsync(['deploy', dir, '-e', 'MESSAGE=v2', '-e', 'BOOT_MS=2500']);
  await page.getByTestId('running-deploy').getByRole('link').click({ timeout: 15_000 });
  const view = page.getByTestId('deployment');
  await view.waitFor({ timeout: 5000 });
  await page.locator('[data-outcome="updating"]').first().waitFor({ timeout: 10_000 });
  await page.locator('[data-step="started"]').first().waitFor({ timeout: 10_000 });
  await deploymentShows(page, d, 'complete', 30_000);
  assert.equal((await deploy).status, 0);
  const depId = ((await d.api('GET', '/v1/apps/dash/deployments')).body as Array<{ id: string }>)[0]!.id;
  const events = await fetch(`${d.url}/v1/deployments/${depId}/events`, { headers: { authorization: `Bearer ${d.token}` } }).then((r) => r.text());
  const steps = events.split('\n').filter(Boolean).map((l) => JSON.parse(l).event).filter((e) => e.type === 'machine' && e.machineId === ids[0] && e.step).map((e) => e.step);
  assert.deepEqual(steps, ['started', 'passing', 'switched', 'drained'], 'each step of the in-place update, in order');
  for (const id of ids) assert.equal(await page.locator(`[data-machine="${id}"]`).getAttribute('data-outcome'), 'updated');
  const phases = await page.getByTestId('phases').innerText();
  assert.match(phases, /release_command/);
  assert.match(phases, /update_machines/);
  assert.match(await page.locator('#output').innerText(), /migrating <img src=x onerror="window.__xss=1"><script>/, 'the release command output, as text');
  await screenshot(page, 'deploy-rolling');

  // Roll back to v1 from the releases table, with the keyboard only: it asks first.
  await page.getByRole('link', { name: 'dash' }).click();
  await page.getByTestId('rollback-1').focus();
  await page.keyboard.press('Enter');
  await page.getByText('Deploy v1 again?').waitFor({ timeout: 5000 });
  await page.keyboard.press('Enter');
  await deploymentShows(page, d, 'complete', 30_000);
  const releases = (await d.api('GET', '/v1/apps/dash/releases')).body as Array<{ version: number; user: string; status: string }>;
  assert.equal(releases[0]!.version, 3);
  assert.equal(releases[0]!.user, 'dashboard');
  assert.match((await proxyGet(d, 'dash.localhost')).text, /^v1 /, 'v1 serves again');

  // A machine whose check fails with markup in its output, and logs full of markup: all text.
  const image = ((await d.api('GET', '/v1/apps/dash/machines')).body as Array<{ config: { image: string } }>)[0]!.config.image;
  const html = await d.api('POST', '/v1/apps/dash/machines', { config: { image, init: { cmd: ['node', 'server.js'] }, env: { MESSAGE: 'x' }, services: [{ internal_port: 8080, ports: [{ port: 80, handlers: ['http'] }] }], checks: { page: { type: 'http', port: 8080, path: '/html', interval: '200ms', timeout: '1s', grace_period: '0s' } } } });
  assert.equal(html.status, 201, JSON.stringify(html.body));
  await page.getByRole('link', { name: 'dash' }).click();
  const check = page.locator(`[data-machine="${html.body.id}"] button.check[title^="HTTP 500"]`);
  await check.waitFor({ timeout: 15_000 });
  await check.click();
  assert.match(await page.locator(`[data-machine="${html.body.id}"] pre.output`).innerText(), /HTTP 500: <img src=x onerror="window\.__xss=1"><script>window\.__xss=2<\/script>/);
  await page.getByTestId('mixed-releases').waitFor({ timeout: 5000 });
  await screenshot(page, 'app-mixed');
  await page.getByRole('link', { name: 'Logs' }).click();
  await page.getByText('booting <img', { exact: false }).first().waitFor({ timeout: 10_000 });
  await screenshot(page, 'logs');
  // 10,000 more lines: only the rows in view are in the page, and it keeps up.
  const spam = await proxyGet(d, 'dash.localhost', {}, '/spam');
  assert.equal(spam.status, 200);
  await waitUntil(async () => Number(await page.getByTestId('logview').getAttribute('data-lines')) >= 10_000, 20_000, '10,000 lines in the log view');
  assert.ok((await page.locator('.logline').count()) < 200, 'rows outside the view are not in the page');
  const frame = await page.evaluate(async () => {
    const g = globalThis as unknown as { document: { querySelector(s: string): { scrollTop: number } }; performance: { now(): number }; requestAnimationFrame(f: () => void): void };
    const t0 = g.performance.now();
    g.document.querySelector('[data-testid="logview"]').scrollTop = 0;
    await new Promise<void>((r) => g.requestAnimationFrame(() => g.requestAnimationFrame(() => r())));
    return g.performance.now() - t0;
  });
  assert.ok(frame < 250, `scrolling 10,000 lines to the top took ${frame.toFixed(0)} ms to draw`);
  await page.getByTestId('pause-logs').getByText('Resume scrolling').waitFor({ timeout: 5000 });
  assert.equal(await xssRan(page), undefined, 'no markup from the daemon ran');

  // Metrics: charts from the daemon's history, one point a second here.
  for (let i = 0; i < 20; i++) await proxyGet(d, 'dash.localhost');
  await page.getByRole('link', { name: 'dash' }).click();
  await page.getByRole('link', { name: 'Metrics' }).click();
  await page.locator('[data-testid="chart-rps"] canvas').waitFor({ timeout: 10_000 });
  const points = Number(await page.getByTestId('metrics').getAttribute('data-points'));
  await waitUntil(async () => Number(await page.getByTestId('metrics').getAttribute('data-points')) >= points + 2, 10_000, 'the charts taking new points live');
  const shown = Number(await page.getByTestId('metrics').getAttribute('data-requests'));
  const history = (await d.api('GET', '/v1/apps/dash/metrics/history')).body as { points: Array<{ requests: number }> };
  assert.ok(shown >= 20, `the page counts the 20 requests (it shows ${shown}; the API ${history.points.reduce((n, q) => n + q.requests, 0)})`);
  await screenshot(page, 'metrics');
  assert.equal(await page.locator('img[src="x"]').count(), 0);
  assert.deepEqual(errors, []);
});

test('canary and bluegreen: a bad canary is aborted while the page shows the decision; a paused canary is promoted from the page; a staged bluegreen is cut over from it', async (t) => {
  const canary = `\n[deploy.canary]\ncount = 1\nsteps = [10, 50]\nstep_interval = "1500ms"\nmax_error_rate = 0.05\nmin_requests = 10\n`;
  const d = await startDaemon(t);
  const dir = await deployed(t, d, 'dcan', canary);
  const browser = await launchBrowser(t);
  const { page, errors } = await newPage(browser);
  await signIn(page, d);
  const load = loadLoop(d, 'dcan.localhost', { workers: 4, maxMs: 60_000 });
  t.after(() => load.stop());

  const bad = d.cliAsync(['deploy', dir, '--strategy', 'canary', '-e', 'FAIL_RATE=0.6', '-e', 'MESSAGE=bad']);
  const running = await runningDeploy(d, 'dcan', 2, 'canary');
  await page.goto(`${d.url}/apps/dcan/deployments/${running.id}`);
  await deploymentShows(page, d, 'rolled_back', 40_000);
  assert.equal((await bad).status, 1);
  const decisions = await page.getByTestId('decisions').innerText();
  assert.match(decisions, /abort/);
  assert.match(decisions, /error rate \d+\.\d% > max_error_rate 5\.0%/);
  assert.equal(await page.getByTestId('chart-errors').locator('canvas').count(), 1, 'the error-rate chart is drawn');
  await screenshot(page, 'canary-aborted');

  // A slow canary: pause it from the page, then promote it.
  const slow = canary.replace('1500ms', '60s');
  const dir2 = dashApp(t, 'dcan', slow);
  const good = d.cliAsync(['deploy', dir2, '--strategy', 'canary', '-e', 'MESSAGE=v3']);
  const second = await runningDeploy(d, 'dcan', 3, 'canary');
  await page.goto(`${d.url}/apps/dcan/deployments/${second.id}`);
  await page.getByTestId('pause').click({ timeout: 10_000 });
  await page.getByTestId('resume').waitFor({ timeout: 5000 });
  assert.equal((await d.api('GET', `/v1/deployments/${second.id}`)).body.paused, true);
  await page.getByTestId('split').waitFor();
  await screenshot(page, 'canary-paused');
  await page.getByTestId('promote').click();
  await deploymentShows(page, d, 'complete', 30_000);
  assert.equal((await good).status, 0);

  // A staged bluegreen deploy: the page shows the green set and cuts over.
  const staged = d.cliAsync(['deploy', dir, '--strategy', 'bluegreen', '--no-cutover', '-e', 'MESSAGE=v4']);
  const bg = await runningDeploy(d, 'dcan', 4, 'awaiting_promotion');
  await page.goto(`${d.url}/apps/dcan/deployments/${bg.id}`);
  const green = ((await d.api('GET', `/v1/deployments/${bg.id}`)).body as { extra: { green: string[] } }).extra.green;
  assert.equal(green.length, 2);
  for (const id of green) await page.getByTestId('green').getByText(id, { exact: false }).waitFor({ timeout: 5000 });
  await screenshot(page, 'bluegreen-staged');
  await page.getByTestId('cutover').click();
  await deploymentShows(page, d, 'complete', 30_000);
  assert.equal((await staged).status, 0);
  assert.match((await proxyGet(d, 'dcan.localhost')).text, /^v4 /);
  await load.stop();
  assert.deepEqual(errors, []);
});

test('the page keeps following a deploy across a daemon restart: a "reconnecting" banner, then the deploy to its end, without a reload or a new sign-in', async (t) => {
  const port = await freePort();
  const args = ['--listen', `127.0.0.1:${port}`];
  const d = await startDaemon(t, { args });
  const dir = await deployed(t, d, 'dre');
  const browser = await launchBrowser(t);
  const { page, errors } = await newPage(browser);
  await signIn(page, d);
  const r = await d.cliAsync(['deploy', dir, '-e', 'MESSAGE=v2', '-e', 'BOOT_MS=1500', '--detach', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const id = JSON.parse(r.stdout).id as string;
  await page.goto(`${d.url}/apps/dre/deployments/${id}`);
  await page.getByTestId('deployment').waitFor({ timeout: 5000 });
  await page.evaluate(() => ((globalThis as unknown as { __stay: boolean }).__stay = true));
  await page.locator('[data-outcome="updating"]').first().waitFor({ timeout: 10_000 });
  await d.kill9();
  await page.getByTestId('reconnecting').waitFor({ timeout: 10_000 });
  await screenshot(page, 'reconnecting');
  const again = await d.restart();
  assert.equal(again.url, d.url, 'the same address');
  await deploymentShows(page, again, 'complete', 40_000);
  await page.getByTestId('reconnecting').waitFor({ state: 'detached', timeout: 10_000 });
  assert.equal(await page.evaluate(() => (globalThis as unknown as { __stay?: boolean }).__stay), true, 'the page was not reloaded');
  assert.equal(await page.getByLabel('API token').count(), 0, 'still signed in');
  assert.deepEqual(errors, []);
});

test('a rollback to a release whose image is gone is one line on the page, and no release is written; a failed machine shows why; log filters', async (t) => {
  const d = await startDaemon(t);
  const dir = dashApp(t, 'dgone');
  assert.equal((await d.cliAsync(['deploy', dir])).status, 0);
  const v1 = ((await d.api('GET', '/v1/apps/dgone/machines')).body as Array<{ image_ref: { digest: string } }>)[0]!.image_ref.digest;
  appendFileSync(join(dir, 'server.js'), '// v2\n');
  assert.equal((await d.cliAsync(['deploy', dir])).status, 0);
  rmSync(join(d.home, 'images', 'sha256', v1.replace(/^sha256:/, '')), { recursive: true, force: true });
  const browser = await launchBrowser(t);
  const { page, errors } = await newPage(browser);
  await signIn(page, d);
  await page.goto(`${d.url}/apps/dgone`);
  await page.getByTestId('rollback-1').click({ timeout: 10_000 });
  await page.getByTestId('rollback-1-confirm').click();
  const alert = page.locator('[data-release="1"]').getByRole('alert');
  await alert.waitFor({ timeout: 10_000 });
  assert.match(await alert.innerText(), /^v1's image hangar\.local\/dgone:\S+ can no longer be deployed: .+ \(deploy the app from its source again \(hangar deploy\), or roll back to another release\)$/);
  assert.equal(((await d.api('GET', '/v1/apps/dgone/releases')).body as unknown[]).length, 2, 'no release was written');
  await screenshot(page, 'rollback-image-gone');

  // A deploy whose machine never passes its check: the page shows the machine failed, and why.
  const bad = await d.cliAsync(['deploy', dir, '-e', 'UNHEALTHY=1', '--wait-timeout', '3s', '--detach', '--json']);
  assert.equal(bad.status, 0, bad.stderr);
  await page.goto(`${d.url}/apps/dgone/deployments/${JSON.parse(bad.stdout).id}`);
  await deploymentShows(page, d, 'rolled_back', 30_000);
  // Rolled back, the machine is "untouched" now; its failure stays on the page.
  const why = page.getByTestId('progress').locator('.error').first();
  await why.waitFor({ timeout: 5000 });
  assert.match(await why.innerText(), /^\w+ failed: .+/);
  await screenshot(page, 'deploy-failed');

  // Log filters: only the deploy's own lines.
  await page.goto(`${d.url}/apps/dgone/logs`);
  await page.getByRole('checkbox', { name: 'deploy' }).check();
  let shown: string[] = [];
  await waitUntil(async () => {
    shown = await page.locator('.logline').allInnerTexts();
    return shown.length > 0 && shown.every((l) => /^\S+ deploy\b/.test(l));
  }, 10_000, 'only deploy lines in the view');
  assert.ok(shown.some((l) => /machine failed/.test(l)), shown.join('\n'));
  assert.deepEqual(errors, []);
});

test('Firefox: the login link, the apps and app pages, and a deploy followed live to its end', async (t) => {
  const d = await startDaemon(t);
  const dir = await deployed(t, d, 'dfox');
  const ff = await Firefox.launch(t);
  await ff.goto(await loginLink(d));
  await ff.waitFor(`document.querySelector('a[href="/apps/dfox"]')`, 15_000, 'the apps page with the app');
  assert.equal(await ff.eval('location.pathname'), '/');
  await ff.goto(`${d.url}/apps/dfox`);
  await ff.waitFor(`document.querySelectorAll('[data-testid="machines"] tr[data-machine]').length === 2`, 10_000, 'both machines');
  const r = await d.cliAsync(['deploy', dir, '-e', 'MESSAGE=v2', '-e', 'BOOT_MS=1000', '--detach', '--json']);
  assert.equal(r.status, 0, r.stderr);
  await ff.goto(`${d.url}/apps/dfox/deployments/${JSON.parse(r.stdout).id}`);
  await ff.waitFor(`document.querySelector('[data-testid="deployment"][data-status="complete"]')`, 30_000, 'the deploy view at complete');
  assert.equal(await ff.eval(`document.querySelectorAll('[data-outcome="updated"]').length`), 2);
  mkdirSync(ARTIFACTS, { recursive: true });
  writeFileSync(join(ARTIFACTS, 'firefox-deploy.png'), await ff.screenshot());
  assert.deepEqual(ff.errors, []);
});
