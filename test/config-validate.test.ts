import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { BIN, FIXTURE_APP, ROOT, startDaemon } from './helpers.js';

const FIXTURES = join(ROOT, 'test', 'fixtures', 'fly-configs');

interface ValidateJson {
  valid: boolean;
  problems: Array<{ path: string; message: string; value?: unknown }>;
  warnings: Array<{ path: string; message: string }>;
}

/** Runs the real CLI with no daemon and no app name in the environment unless the test sets one. */
function hangar(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', HANGAR_API_URL: 'http://127.0.0.1:9', ...opts.env };
  if (!opts.env?.HANGAR_APP) delete env.HANGAR_APP;
  if (!opts.env?.FLY_APP) delete env.FLY_APP;
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: opts.cwd ?? ROOT, env, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function validateJson(args: string[], opts?: { cwd?: string; env?: Record<string, string> }): { status: number | null; body: ValidateJson } {
  const r = hangar(['config', 'validate', '--json', ...args], opts);
  return { status: r.status, body: JSON.parse(r.stdout) as ValidateJson };
}

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-validate-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('config validate: a good file exits 0 and lists its warnings with paths', () => {
  const human = hangar(['config', 'validate', '-c', join(FIXTURES, 'old-services.toml')]);
  assert.equal(human.status, 0, human.stderr);
  assert.match(human.stdout, /^warning: services\[0\]\.concurrency: concurrency = "20,25" \(an old form\)/m);
  assert.match(human.stdout, /^warning: services\[0\]\.http_checks\[0\]\.interval: the bare number 10000 is read as 10000 milliseconds/m);
  assert.match(human.stdout, /✓ old-services\.toml is valid \(11 warnings\)\n$/);

  const { status, body } = validateJson(['-c', join(FIXTURES, 'node-app.toml')]);
  assert.equal(status, 0);
  assert.deepEqual(body, { valid: true, problems: [], warnings: [] });
});

test('config validate: problems exit 1, each with its path and value; warnings alone do not', () => {
  const { status, body } = validateJson(['-c', join(FIXTURES, 'bad-types.toml')]);
  assert.equal(status, 1);
  assert.equal(body.valid, false);
  assert.deepEqual(body.problems.map((p) => [p.path, p.value]), [
    ['kill_signal', 'SIGWHATEVER'],
    ['kill_timeout', 'soon'],
    ['http_service.internal_port', 'eighty'],
    ['restart[0].policy', 'sometimes'],
    ['vm[0].size', 'shared-cpu-3x'],
  ]);
  const human = hangar(['config', 'validate', '-c', join(FIXTURES, 'bad-types.toml')]);
  assert.equal(human.status, 1);
  assert.match(human.stdout, /^problem: http_service\.internal_port: expected a number \(got "eighty"\)$/m);
  assert.match(human.stdout, /✗ bad-types\.toml has 5 problems\n$/);
  assert.doesNotMatch(human.stderr, /\n\s+at /, 'no stack trace');
});

test('config validate: the app name comes from the file, -a, HANGAR_APP or FLY_APP', (t) => {
  const noApp = join(FIXTURES, 'no-app.toml');
  const missing = validateJson(['-c', noApp]);
  assert.equal(missing.status, 1);
  assert.deepEqual(missing.body.problems, [{ path: 'app', message: 'is not set (set app = "..." in the file, or pass -a NAME)' }]);
  assert.equal(validateJson(['-c', noApp, '-a', 'billing']).status, 0);
  assert.equal(validateJson(['-c', noApp], { env: { FLY_APP: 'billing' } }).status, 0);

  const dir = tempDir(t);
  const placeholder = join(dir, 'fly.toml');
  writeFileSync(placeholder, 'app = "{APP_NAME}"\n');
  const replacedBy = (r: { body: ValidateJson }) => r.body.warnings.find((w) => w.path === 'app')?.message.match(/replaced by "(.*)"/)?.[1];
  assert.equal(replacedBy(validateJson(['-c', placeholder], { env: { FLY_APP: 'from-fly', HANGAR_APP: 'from-hangar' } })), 'from-hangar');
  assert.equal(replacedBy(validateJson(['-c', placeholder, '-a', 'from-flag'], { env: { HANGAR_APP: 'from-hangar' } })), 'from-flag');
  const bare = validateJson(['-c', placeholder]);
  assert.equal(bare.status, 1);
  assert.deepEqual(bare.body.problems.map((p) => [p.path, p.value]), [['app', '{APP_NAME}']]);
});

test('config validate: finds ./hangar.toml, else ./fly.toml; a missing file or bad TOML is exit 1', (t) => {
  const dir = tempDir(t);
  const none = hangar(['config', 'validate'], { cwd: dir });
  assert.equal(none.status, 1);
  assert.match(none.stderr, /^Error: no hangar\.toml or fly\.toml in .*\nhint: /);

  copyFileSync(join(FIXTURES, 'bad-types.toml'), join(dir, 'fly.toml'));
  assert.equal(hangar(['config', 'validate'], { cwd: dir }).status, 1, 'fly.toml is read');
  writeFileSync(join(dir, 'hangar.toml'), 'app = "fine"\n');
  const both = hangar(['config', 'validate'], { cwd: dir });
  assert.equal(both.status, 0, 'hangar.toml wins over fly.toml');
  assert.match(both.stdout, /hangar\.toml is valid/);

  writeFileSync(join(dir, 'hangar.toml'), 'app = "x"\n[env]\nA = \n');
  const syntax = validateJson([], { cwd: dir });
  assert.equal(syntax.status, 1);
  assert.match(syntax.body.problems[0]!.path, /hangar\.toml:3:\d+$/);
  assert.equal(hangar(['config', 'validate', '-c', join(dir, 'nope.toml')]).status, 1);
});

test('a fly.toml with every accepted-but-ignored key deploys; each warning is printed once', async (t) => {
  const d = await startDaemon(t);
  const dir = tempDir(t);
  copyFileSync(join(FIXTURE_APP, 'server.js'), join(dir, 'server.js'));
  writeFileSync(join(dir, 'fly.toml'), readFileSync(join(FIXTURES, 'all-ignored.toml')));
  const r = await d.cliAsync(['deploy', dir]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /release v1 deployed/);
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('warning: '));
  assert.equal(lines.length, 53, r.stderr);
  assert.equal(new Set(lines).size, lines.length, 'no warning repeated');
  assert.ok(lines.includes('warning: deploy.seed_command: fly.toml key deploy.seed_command is not supported by hangar and is ignored'));
});
