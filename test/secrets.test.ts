import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { appDir, startDaemon, waitUntil, WEB_TOML, type TestDaemon } from './helpers.js';

type M = { id: string; instance_id: string; state: string; address: string | null; config: { env: Record<string, string>; metadata: Record<string, string> } };
const machines = async (d: TestDaemon, app: string) => (await d.api('GET', `/v1/apps/${app}/machines`)).body as M[];

/** Each running machine's process env and pid, from the echo fixture's /env. */
async function envs(d: TestDaemon, app: string): Promise<Array<{ id: string; instance: string; pid: number; env: Record<string, string> }>> {
  const out = [];
  for (const m of await machines(d, app)) {
    if (!m.address) continue;
    let r!: { pid: number; env: Record<string, string> };
    // A started machine's process may not listen yet (a plain start is not health-gated).
    await waitUntil(async () => {
      r = (await fetch(`http://${m.address}/env`).then((res) => res.json(), () => undefined)) as typeof r;
      return r !== undefined;
    }, 10_000, `machine ${m.id} to answer`);
    out.push({ id: m.id, instance: m.instance_id, pid: r.pid, env: r.env });
  }
  return out.sort((a, b) => a.id.localeCompare(b.id));
}

/** Every file under `dir`, recursively, that contains `needle` (binary files too: state.db, its WAL). */
function filesContaining(dir: string, needle: string): string[] {
  const found: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) found.push(...filesContaining(p, needle));
    else if (e.isFile() && readFileSync(p).includes(needle)) found.push(p);
  }
  return found;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

test('secrets reach machines and the release command, and the value is shown or stored in clear nowhere', async (t) => {
  const d = await startDaemon(t);
  const secret = `s3cr=t ${randomBytes(8).toString('hex')}`;
  const dir = appDir(t, WEB_TOML('sec', `\n[deploy]\nrelease_command = "sh -c 'printf %s \\"$MY_SECRET\\" | sha256sum'"\n`));
  assert.equal(d.cli(['apps', 'create', 'sec']).status, 0);
  const set = d.cli(['secrets', 'set', `MY_SECRET=${secret}`, 'OTHER=1', '-a', 'sec']);
  assert.equal(set.status, 0, set.stderr);
  assert.match(set.stdout, /Secrets stored \(set MY_SECRET, OTHER\)\. App sec has no release yet, so nothing was restarted/);

  const deploy = await d.cliAsync(['deploy', dir]);
  assert.equal(deploy.status, 0, deploy.stdout + deploy.stderr);
  assert.match(deploy.stdout, new RegExp(`release_command \\| ${sha256(secret)}`), 'the release command saw the value');
  const running = await envs(d, 'sec');
  assert.equal(running.length, 2);
  for (const m of running) assert.equal(m.env.MY_SECRET, secret);
  assert.equal(statSync(join(d.home, 'secrets.key')).mode & 0o777, 0o600);
  assert.equal(readFileSync(join(d.home, 'secrets.key')).length, 32);

  const list = JSON.parse(d.cli(['secrets', 'list', '-a', 'sec', '--json']).stdout) as Array<{ name: string; digest: string }>;
  assert.deepEqual(list.map((s) => s.name), ['MY_SECRET', 'OTHER']);
  assert.ok(list.every((s) => /^[0-9a-f]{16}$/.test(s.digest)));
  assert.match(d.cli(['secrets', 'list', '-a', 'sec']).stdout, /NAME\s+DIGEST\s+CREATED\s+UPDATED\nMY_SECRET\s+[0-9a-f]{16}\s/);

  const seen: string[] = [deploy.stdout, deploy.stderr, set.stdout, set.stderr];
  const ms = await machines(d, 'sec');
  const deployments = (await d.api('GET', '/v1/apps/sec/deployments')).body as Array<{ id: string }>;
  const paths = ['/v1/apps', '/v1/apps/sec', '/v1/apps/sec/machines', '/v1/apps/sec/releases', '/v1/apps/sec/deployments', '/v1/apps/sec/secrets', '/v1/apps/sec/routing', '/v1/apps/sec/images'];
  for (const m of ms) paths.push(`/v1/apps/sec/machines/${m.id}`, `/v1/apps/sec/machines/${m.id}/events`);
  for (const x of deployments) paths.push(`/v1/deployments/${x.id}`, `/v1/deployments/${x.id}/events`);
  for (const p of paths) seen.push(JSON.stringify((await d.api('GET', p)).body));
  for (const args of [['machines', 'list', '--json'], ['secrets', 'list', '--json'], ['status', '--json'], ['releases', '--json'], ['logs', '--no-tail'], ['deployments', 'list']]) {
    const r = d.cli([...args, '-a', 'sec']);
    assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
    seen.push(r.stdout, r.stderr);
  }
  assert.match(seen.join('\n'), /release_command/, 'the scan covers the deploy output and logs');
  for (const [i, text] of seen.entries()) assert.ok(!text.includes(secret), `the value leaked into output #${i}: ${text.slice(0, 200)}`);
  assert.ok(ms.every((m) => !('MY_SECRET' in m.config.env)), 'machine config env has no secrets');
  assert.ok(ms.every((m) => /^[0-9a-f]{64}$/.test(m.config.metadata.hangar_secrets_digest ?? '')));

  await d.stop();
  assert.deepEqual(filesContaining(d.home, secret), [], 'no file under HANGAR_HOME (state.db, WAL, daemon.log, logs) holds the value');
  assert.match(readFileSync(join(d.home, 'daemon.log'), 'utf8'), /"changed":\["MY_SECRET","OTHER"\]/, 'the log names what changed');
});

test('--stage restarts nothing and status marks machines stale until a deploy; without it, a new release rolls', async (t) => {
  const d = await startDaemon(t);
  const dir = appDir(t, WEB_TOML('stage'));
  assert.equal((await d.cliAsync(['deploy', dir])).status, 0);
  const before = await envs(d, 'stage');

  const staged = d.cli(['secrets', 'set', 'A=one', '--stage', '-a', 'stage']);
  assert.equal(staged.status, 0, staged.stderr);
  assert.match(staged.stdout, /Secrets staged \(set A\); nothing was restarted/);
  const still = await envs(d, 'stage');
  assert.deepEqual(still.map((m) => [m.id, m.instance, m.pid]), before.map((m) => [m.id, m.instance, m.pid]), 'same instances, same processes');
  assert.ok(still.every((m) => m.env.A === undefined));
  const st = d.cli(['status', '-a', 'stage']);
  assert.match(st.stdout, /UPDATED\s+SECRETS\n/);
  assert.equal(st.stdout.match(/ stale\n/g)?.length, 2, st.stdout);
  assert.match(st.stderr, /2 machine\(s\) run with outdated secrets/);
  assert.equal(JSON.parse(d.cli(['status', '-a', 'stage', '--json']).stdout).stale_secrets.length, 2);

  const redeploy = await d.cliAsync(['deploy', dir]);
  assert.equal(redeploy.status, 0, redeploy.stdout + redeploy.stderr);
  assert.ok((await envs(d, 'stage')).every((m) => m.env.A === 'one'), 'hangar deploy applies staged secrets');
  assert.deepEqual(JSON.parse(d.cli(['status', '-a', 'stage', '--json']).stdout).stale_secrets, []);
  assert.doesNotMatch(d.cli(['status', '-a', 'stage']).stdout, /stale/);

  const ids = (await envs(d, 'stage')).map((m) => m.instance);
  const rolled = await d.cliAsync(['secrets', 'set', 'A=two', '-a', 'stage']);
  assert.equal(rolled.status, 0, rolled.stdout + rolled.stderr);
  assert.match(rolled.stdout, /Secrets stored \(set A\); rolling them out as release v3\.[\s\S]*release v3 deployed/);
  const after = await envs(d, 'stage');
  assert.ok(after.every((m) => m.env.A === 'two' && !ids.includes(m.instance)), 'new instances with the new value');
  const releases = (await d.api('GET', '/v1/apps/stage/releases')).body as Array<{ version: number; description: string; status: string }>;
  assert.deepEqual([releases[0]!.version, releases[0]!.description, releases[0]!.status], [3, 'secrets updated', 'complete']);
  assert.deepEqual(JSON.parse(d.cli(['status', '-a', 'stage', '--json']).stdout).stale_secrets, []);

  assert.match(d.cli(['secrets', 'set', 'A=two', '-a', 'stage']).stdout, /No change/);
  const imported = d.cli(['secrets', 'import', '-a', 'stage'], { input: '# from a .env file\n\nB=x=y\r\n' });
  assert.equal(imported.status, 0, imported.stderr);
  assert.ok((await envs(d, 'stage')).every((m) => m.env.B === 'x=y'), 'values keep their = (and lose a CRLF ending)');
  const unset = d.cli(['secrets', 'unset', 'A', 'B', '-a', 'stage']);
  assert.equal(unset.status, 0, unset.stderr);
  assert.ok((await envs(d, 'stage')).every((m) => m.env.A === undefined && m.env.B === undefined));
  assert.deepEqual(JSON.parse(d.cli(['status', '-a', 'stage', '--json']).stdout).stale_secrets, [], 'no secrets, none stale');
  assert.equal(((await d.api('GET', '/v1/apps/stage/releases')).body as unknown[]).length, 5, 'no release for the unchanged set');

  // After a failed deploy the newest release is not what runs: rolling out secrets must not ship it.
  writeFileSync(join(dir, 'hangar.toml'), WEB_TOML('stage', `\n[deploy]\nrelease_command = "sh -c 'exit 1'"\n`));
  assert.equal((await d.cliAsync(['deploy', dir])).status, 1);
  const refused = d.cli(['secrets', 'set', 'C=1', '-a', 'stage']);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /the newest release of app stage, v6, is failed; rolling out secrets would deploy it again, so they were not changed/);
  assert.match(refused.stderr, /hint: store them with --stage/);
  assert.equal(((await d.api('GET', '/v1/apps/stage/secrets')).body as { secrets: unknown[] }).secrets.length, 0);
  assert.equal(d.cli(['secrets', 'set', 'C=1', '--stage', '-a', 'stage']).status, 0);
  await d.stop();
});

test('bad input: one clear line and a hint each, never the value', async (t) => {
  const d = await startDaemon(t);
  assert.equal(d.cli(['apps', 'create', 'bad']).status, 0);
  const value = `v-${randomBytes(6).toString('hex')}`;
  const cases: Array<[string[], RegExp, RegExp]> = [
    [['set', value], /argument 1: expected NAME=VALUE/, /hint: e\.g\. hangar secrets set/],
    [['set', `=${value}`], /a secret name is empty/, /hint: names are letters/],
    [['set', `1BAD=${value}`], /secret name "1BAD" is not a valid environment variable name/, /hint: names are letters/],
    [['set', `FLY_TOKEN=${value}`], /starts with FLY_, which is reserved/, /hint:/],
    [['set', `HANGAR_TOKEN=${value}`], /starts with HANGAR_, which is reserved/, /hint:/],
    [['set', `BIG=${value}${'x'.repeat(64 * 1024)}`], /the value of BIG is 65550 bytes; the limit is 65536 \(64 KiB\)/, /hint:/],
    [['unset', 'NOPE'], /there is no secret NOPE/, /hint: see the names with: hangar secrets list/],
  ];
  for (const [args, message, hint] of cases) {
    const r = d.cli(['secrets', ...args, '-a', 'bad']);
    assert.equal(r.status, 1, `${args[0]} ${args[1]?.slice(0, 20)} should fail`);
    assert.match(r.stderr, message);
    assert.match(r.stderr, hint);
    assert.ok(!r.stderr.includes(value) && !r.stdout.includes(value), 'the value is not echoed');
  }
  const lines = (n: number) => Array.from({ length: n }, (_, i) => `S${i}=v`).join('\n');
  const tooMany = d.cli(['secrets', 'import', '--stage', '-a', 'bad'], { input: lines(101) });
  assert.equal(tooMany.status, 1);
  assert.match(tooMany.stderr, /the app would have 101 secrets; the limit is 100 per app/);
  assert.equal(d.cli(['secrets', 'import', '--stage', '-a', 'bad'], { input: lines(100) }).status, 0);
  assert.match(d.cli(['secrets', 'import', '-a', 'bad'], { input: 'A=1\nnot a pair\n' }).stderr, /line 2: expected NAME=VALUE/);

  const api = async (body: unknown) => d.api('POST', '/v1/apps/bad/secrets', body);
  assert.equal((await api({ set: { K: 5 } })).status, 400);
  assert.equal((await api({ set: { 'A-B': value } })).body.code, 'invalid_secret');
  assert.ok(!JSON.stringify((await api({ set: { 'A-B': value } })).body).includes(value));
  assert.equal((await d.api('GET', '/v1/apps/nope/secrets')).status, 404);
  assert.equal(((await d.api('GET', '/v1/apps/bad/secrets')).body as { secrets: unknown[] }).secrets.length, 100, 'nothing half-stored');
  await d.stop();
});

test('a corrupt, foreign or missing key file is a clear error, never re-keyed; restoring it brings the secrets back', async (t) => {
  let d = await startDaemon(t);
  const dir = appDir(t, WEB_TOML('keyed'));
  assert.equal(d.cli(['apps', 'create', 'keyed']).status, 0);
  assert.equal(d.cli(['secrets', 'set', 'TOKEN=tok-1', '-a', 'keyed']).status, 0);
  assert.equal((await d.cliAsync(['deploy', dir])).status, 0);
  const keyFile = join(d.home, 'secrets.key');
  const key = readFileSync(keyFile);
  const listed = d.cli(['secrets', 'list', '-a', 'keyed', '--json']).stdout;

  await d.stop();
  writeFileSync(keyFile, 'garbage\n');
  d = await d.restart();
  const list = d.cli(['secrets', 'list', '-a', 'keyed']);
  assert.equal(list.status, 1);
  assert.match(list.stderr, /the secrets key file .*secrets\.key holds 8 bytes, not the 32 of a key, so stored secrets cannot be decrypted/);
  assert.match(list.stderr, /hint: restore the original .*secrets\.key from your backup/);
  assert.equal((await d.api('GET', '/v1/apps/keyed/secrets')).body.code, 'secrets_key_invalid');

  writeFileSync(keyFile, randomBytes(32));
  assert.match(d.cli(['secrets', 'list', '-a', 'keyed']).stderr, /is not the key the stored secrets were encrypted with/);
  const m = (await machines(d, 'keyed'))[0]!;
  assert.equal(d.cli(['machines', 'stop', m.id, '-a', 'keyed']).status, 0);
  const start = d.cli(['machines', 'start', m.id, '-a', 'keyed']);
  assert.equal(start.status, 1, 'a machine of an app with secrets cannot start without the key');
  assert.match(start.stderr, /secrets key file .* so stored secrets cannot be decrypted/);
  assert.match(d.cli(['secrets', 'set', 'TOKEN=tok-2', '-a', 'keyed', '--stage']).stderr, /cannot be decrypted/, 'nothing is sealed with a wrong key');

  writeFileSync(keyFile, key);
  assert.equal(d.cli(['secrets', 'list', '-a', 'keyed', '--json']).stdout, listed, 'restored without a restart; the secrets are all there');
  assert.equal(d.cli(['machines', 'start', m.id, '-a', 'keyed']).status, 0);
  assert.ok((await envs(d, 'keyed')).every((x) => x.env.TOKEN === 'tok-1'));

  await d.stop();
  unlinkSync(keyFile);
  d = await d.restart();
  assert.equal(existsSync(keyFile), false, 'no new key while secrets are stored');
  const missing = d.cli(['secrets', 'list', '-a', 'keyed']);
  assert.match(missing.stderr, /secrets\.key is missing, so stored secrets cannot be decrypted/);
  assert.match(missing.stderr, /hint: restore .*secrets\.key from your backup; hangar never creates a new key while secrets are stored/);
  writeFileSync(keyFile, key, { mode: 0o600 });
  assert.equal(d.cli(['secrets', 'list', '-a', 'keyed', '--json']).stdout, listed);
  // Stopped here rather than in cleanup, which removes HANGAR_HOME before it stops daemons.
  await d.stop();
});
