import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'undici';

/** Debian's Firefox ESR; FIREFOX_PATH names another. */
export const FIREFOX = process.env.FIREFOX_PATH ?? '/usr/bin/firefox-esr';

/**
 * Every request Firefox makes on its own (updates, telemetry, remote settings, captive-portal checks)
 * goes to a closed loopback port through this proxy; only loopback itself is reached directly.
 */
const PREFS = {
  'network.proxy.type': 1,
  'network.proxy.http': '127.0.0.1',
  'network.proxy.http_port': 9,
  'network.proxy.ssl': '127.0.0.1',
  'network.proxy.ssl_port': 9,
  'network.proxy.no_proxies_on': '127.0.0.1,localhost',
  'network.proxy.allow_hijacking_localhost': false,
  'network.dns.disablePrefetch': true,
  'network.captive-portal-service.enabled': false,
  'network.connectivity-service.enabled': false,
  'app.update.enabled': false,
  'datareporting.policy.dataSubmissionEnabled': false,
  'toolkit.telemetry.enabled': false,
  'browser.safebrowsing.malware.enabled': false,
  'browser.safebrowsing.phishing.enabled': false,
  'extensions.update.enabled': false,
  'browser.shell.checkDefaultBrowser': false,
};

/**
 * Headless Firefox driven over WebDriver BiDi, its own protocol. playwright-core's Firefox support
 * needs its patched build, and its BiDi mode calls `emulation.setMediaFeaturesOverride`, which Debian's
 * Firefox ESR does not implement; the few commands the dashboard's smoke test needs are sent here.
 */
export class Firefox {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  /** Script errors the pages logged. */
  readonly errors: string[] = [];
  context = '';

  private constructor(private readonly ws: WebSocket) {
    ws.addEventListener('message', (ev) => {
      const m = JSON.parse(String(ev.data));
      if (m.id !== undefined) {
        const w = this.waiting.get(m.id);
        this.waiting.delete(m.id);
        if (m.type === 'error') w?.reject(new Error(`${m.error}: ${m.message}`));
        else w?.resolve(m.result);
      } else if (m.method === 'log.entryAdded' && m.params.level === 'error') {
        this.errors.push(m.params.text);
      }
    });
  }

  static async launch(t: { after(fn: () => unknown): void }): Promise<Firefox> {
    if (!existsSync(FIREFOX)) throw new Error(`no Firefox at ${FIREFOX}: install Debian's firefox-esr package (or set FIREFOX_PATH)`);
    const profile = mkdtempSync(join(tmpdir(), 'hangar-firefox-'));
    writeFileSync(join(profile, 'user.js'), Object.entries(PREFS).map(([k, v]) => `user_pref(${JSON.stringify(k)}, ${JSON.stringify(v)});\n`).join(''));
    const proc = spawn(FIREFOX, ['--headless', '--no-remote', '--profile', profile, '--remote-debugging-port=0'], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, MOZ_CRASHREPORTER_DISABLE: '1' } });
    t.after(async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGKILL');
        await new Promise((r) => proc.once('exit', r));
      }
      rmSync(profile, { recursive: true, force: true });
    });
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`Firefox did not open WebDriver BiDi: ${out}`)), 30_000);
      proc.stderr!.on('data', (c) => {
        out += c;
        const m = /WebDriver BiDi listening on (ws:\/\/\S+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      proc.once('exit', () => reject(new Error(`Firefox exited: ${out}`)));
    });
    const ws = new WebSocket(`${url}/session`);
    await new Promise((resolve, reject) => {
      ws.addEventListener('open', resolve);
      ws.addEventListener('error', () => reject(new Error('could not connect to Firefox')));
    });
    const ff = new Firefox(ws);
    t.after(() => ws.close());
    await ff.send('session.new', { capabilities: {} });
    await ff.send('session.subscribe', { events: ['log.entryAdded'] });
    ff.context = (await ff.send('browsingContext.getTree', {})).contexts[0].context;
    return ff;
  }

  send(method: string, params: Record<string, unknown>): Promise<any> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  async goto(url: string): Promise<void> {
    await this.send('browsingContext.navigate', { context: this.context, url, wait: 'complete' });
  }

  /** Evaluates an expression in the page (a string: this is a test's own code) and returns its value. */
  async eval<T = unknown>(expression: string): Promise<T> {
    const r = await this.send('script.evaluate', { expression, target: { context: this.context }, awaitPromise: true, resultOwnership: 'none' });
    if (r.type === 'exception') throw new Error(`in the page: ${r.exceptionDetails.text}`);
    return r.result.value as T;
  }

  /** Waits until `expression` is true in the page. */
  async waitFor(expression: string, timeoutMs: number, what: string): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      if (await this.eval<boolean>(`Boolean(${expression})`).catch(() => false)) return;
      if (Date.now() > end) throw new Error(`Firefox: timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** A PNG of the page's viewport. */
  async screenshot(): Promise<Buffer> {
    return Buffer.from((await this.send('browsingContext.captureScreenshot', { context: this.context })).data, 'base64');
  }
}
