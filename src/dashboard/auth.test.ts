import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { errorCode } from '../core/test-support.js';
import { openState } from '../state/index.js';
import { DashboardAssets } from './assets.js';
import { DashboardAuth, SESSION_COOKIE, cookieValue } from './auth.js';

async function setup(t: { after(fn: () => unknown): void }) {
  const home = mkdtempSync(join(tmpdir(), 'hangar-dash-'));
  const file = join(home, 'state.db');
  const state = await openState(file);
  t.after(async () => {
    await state.close();
    rmSync(home, { recursive: true, force: true });
  });
  const clock = { now: 1_000_000 };
  const auth = new DashboardAuth(state.dashboard, 'the-api-token', { codeTtlMs: 60_000, sessionTtlMs: 3600_000, now: () => clock.now });
  return { auth, clock, state, file };
}

const cookieOf = (auth: DashboardAuth, s: Parameters<DashboardAuth['cookie']>[0]) => `${SESSION_COOKIE}=${cookieValue(auth.cookie(s).split(';')[0], SESSION_COOKIE)}`;

test('a login code signs in once, and not after it expires', async (t) => {
  const { auth, clock } = await setup(t);
  const { code } = await auth.newCode();
  const s = await auth.signIn({ code });
  assert.ok(await auth.session(cookieOf(auth, s)));
  assert.equal(await errorCode(auth.signIn({ code })), 'login_failed', 'used once');
  const late = await auth.newCode();
  clock.now += 60_001;
  assert.equal(await errorCode(auth.signIn({ code: late.code })), 'login_failed', 'expired');
  assert.equal(await errorCode(auth.signIn({ code: 'made-up' })), 'login_failed');
});

test('the API token signs in; a session ends when it expires or is signed out, and lives in the state (a restarted daemon knows it)', async (t) => {
  const { auth, clock, state, file } = await setup(t);
  assert.equal(await errorCode(auth.signIn({ token: 'nope' })), 'login_failed');
  const s = await auth.signIn({ token: 'the-api-token' });
  const cookie = cookieOf(auth, s);
  assert.match(auth.cookie(s), /HttpOnly; SameSite=Strict; Max-Age=3600$/);
  const again = await openState(file);
  t.after(() => again.close());
  const other = new DashboardAuth(again.dashboard, 'the-api-token', { now: () => clock.now });
  const seen = await other.session(cookie);
  assert.equal(seen?.csrf, s.csrf, 'another process on the same state knows the session');
  assert.equal(auth.csrfMatches(seen!, s.csrf), true);
  assert.equal(auth.csrfMatches(seen!, 'x'.repeat(s.csrf.length)), false);
  assert.equal(auth.csrfMatches(seen!, undefined), false);
  await auth.signOut(seen!);
  assert.equal(await auth.session(cookie), undefined, 'signed out');
  const s2 = await auth.signIn({ token: 'the-api-token' });
  clock.now += 3600_001;
  assert.equal(await auth.session(cookieOf(auth, s2)), undefined, 'expired');
  assert.equal(await state.db.selectFrom('dashboard_sessions').select('session_hash').where('session_hash', '=', s2.secret).executeTakeFirst(), undefined, 'only the hash is stored');
});

test('the dashboard ships under 150 kB of gzipped JavaScript, and its page allows no inline script but the import map', () => {
  const assets = new DashboardAssets();
  const bytes = assets.javascriptGzipBytes();
  assert.ok(bytes > 20_000 && bytes < 150_000, `${bytes} bytes`);
  assert.ok(assets.get('main.js'), 'the compiled front end is there');
  assert.match(assets.csp, /script-src 'self' 'sha256-[A-Za-z0-9+/=]+'/);
  assert.doesNotMatch(assets.csp, /unsafe-inline|unsafe-eval/);
  assert.match(assets.page.body.toString(), /<script type="importmap">/);
});
