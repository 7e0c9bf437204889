import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ROOT, type TestDaemon } from '../helpers.js';

/** Debian's chromium (never a downloaded browser); CHROMIUM_PATH names another. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Where the dashboard tests leave their screenshots. */
export const ARTIFACTS = join(ROOT, 'test-artifacts', 'dashboard');

/** A headless Chromium closed when the test ends (root needs --no-sandbox). */
export async function launchBrowser(t: { after(fn: () => unknown): void }): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install Debian's chromium package (or set CHROMIUM_PATH)`);
  const b = await chromium.launch({ executablePath: CHROMIUM, args: process.getuid?.() === 0 ? ['--no-sandbox'] : [] });
  t.after(() => b.close());
  return b;
}

/** A page whose uncaught script errors fail the test when it checks `errors`. */
export async function newPage(b: Browser, width = 1280): Promise<{ page: Page; errors: string[] }> {
  const page = await b.newPage({ viewport: { width, height: 900 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  return { page, errors };
}

/** The one-time login link `hangar dashboard` prints. */
export async function loginLink(d: TestDaemon): Promise<string> {
  const r = await d.cliAsync(['dashboard', '--no-open', '--json']);
  if (r.status !== 0) throw new Error(`hangar dashboard failed: ${r.stderr}`);
  return JSON.parse(r.stdout).url as string;
}

/** Signs the page in through a fresh login link. */
export async function signIn(page: Page, d: TestDaemon): Promise<void> {
  await page.goto(await loginLink(d));
  await page.getByRole('heading', { name: 'Apps' }).waitFor({ timeout: 10_000 });
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/**
 * Waits until the deployment page shows `status`. When it does not, the error says what the page shows
 * and what the daemon has for that deployment, with the end of the daemon's log.
 */
export async function deploymentShows(page: Page, d: TestDaemon, status: string, timeout: number): Promise<void> {
  try {
    await page.locator(`[data-testid="deployment"][data-status="${status}"]`).waitFor({ timeout });
  } catch (err) {
    const view = page.getByTestId('deployment');
    const shown = await view.getAttribute('data-status', { timeout: 1000 }).catch(() => 'no deployment view');
    const seq = await view.getAttribute('data-seq', { timeout: 1000 }).catch(() => '?');
    const id = /\/deployments\/([^/?#]+)/.exec(page.url())?.[1];
    const daemon = id === undefined ? 'no deployment id in the URL' : JSON.stringify((await d.api('GET', `/v1/deployments/${id}`)).body);
    const events = id === undefined ? '' : await fetch(`${d.url}/v1/deployments/${id}/events`, { headers: { authorization: `Bearer ${d.token}` } }).then((r) => r.text());
    throw new Error(`${(err as Error).message.split('\n')[0]}\nthe page shows ${shown} (after event ${seq}), not ${status}\nthe daemon has: ${daemon}\nits events:\n${events.split('\n').slice(-15).join('\n')}\nthe daemon's log ends:\n${d.output().slice(-3000)}`);
  }
}
