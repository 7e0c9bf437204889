import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { appDir, startDaemon, WEB_WORKER_TOML } from './helpers.js';
import { Fixture } from './fuzz/fixture.js';
import { DocValidator, HTTP_METHODS, isBare200, methodsByPath, opName, operations } from './fuzz/openapi.js';
import { requestsFor, undocumentedFor, type RequestSpec } from './fuzz/requests.js';
import { FixtureRef } from './fuzz/schema-arbitrary.js';
import { Runner, type Failure, type Planned } from './fuzz/runner.js';

/**
 * Property-based requests generated from the daemon's own OpenAPI document, against a real daemon with
 * a deployed app: for every operation (and every method a path lacks), with odd path segments, broken
 * query strings and bodies, and without the token. Every answer must follow the document and the one
 * error shape, with no 5xx, and the daemon must stay up; at the end every machine must still stop and
 * be destroyed. Seeded: HANGAR_FUZZ_SEED and HANGAR_FUZZ_RUNS (requests per operation) replay a run,
 * HANGAR_FUZZ_ONLY=3,17 sends only those requests of it (a failure that needed the state earlier requests
 * left may then not recur: replay the whole run), and HANGAR_FUZZ_TRACE=1 prints every request and answer.
 *
 * Requests are generated up front and sent one at a time, not shrunk: each one changes the daemon's
 * state, so a shrunk request would not meet the state its failure needed. Failures are collected
 * (grouped by cause), not stopped at, so one run reports every distinct one.
 *
 * Keeping the fixture alive: a generated DELETE of the app itself would end the run's meaning for every
 * request after it, so those requests are sent last, against an app of their own that is recreated
 * (with an uploaded image and two machines) whenever one of them destroyed it. Everything else, machine
 * destroys included, runs against the deployed app; whenever fewer than two of its machines are left
 * alive, the fuzzer creates one, so machine operations keep reaching a real machine. A machine that
 * stopped answering is not picked again (it is still checked at the end), so one wedge costs one timeout.
 */

const SEED = Number(process.env.HANGAR_FUZZ_SEED ?? 20261201);
// About 1,500 requests: some 100 s on a 2-core machine.
const RUNS = Number(process.env.HANGAR_FUZZ_RUNS ?? 32);
const ONLY = process.env.HANGAR_FUZZ_ONLY ? new Set(process.env.HANGAR_FUZZ_ONLY.split(',').map(Number)) : undefined;
const APP = 'fuzzed';
/** Where requests that destroy their app go: an app of its own, recreated as often as they destroy it. */
const SCRATCH_APP = 'fuzz-scratch';

/** Round-robin over the per-operation lists, so every operation meets the state the others leave. */
function interleave(lists: RequestSpec[][]): RequestSpec[] {
  const out: RequestSpec[] = [];
  for (let i = 0; lists.some((l) => i < l.length); i++) for (const l of lists) if (i < l.length) out.push(l[i]!);
  return out;
}

/** Whether some URL matches both templates (segment by segment, a parameter matches anything). */
function overlaps(a: string, b: string): boolean {
  const [x, y] = [a.split('/'), b.split('/')];
  return x.length === y.length && x.every((s, i) => s === y[i] || s.startsWith('{') || y[i]!.startsWith('{'));
}

/** A generated DELETE of the fixture app itself: sent last, against the scratch app. */
const destroysApp = (s: RequestSpec) => s.method === 'DELETE' && s.template === '/v1/apps/{app}' && 'value' in s.path.app! && s.path.app.value instanceof FixtureRef;

function report(failures: Map<string, Failure>): string {
  const lines = [...failures.values()]
    .sort((a, b) => a.kind.localeCompare(b.kind) || a.message.localeCompare(b.message))
    .map((f) => {
      const where = [...f.where];
      const on = where.length > 6 ? `${where.slice(0, 6).join(', ')} and ${where.length - 6} more` : where.join(', ');
      const replay = f.indices.length ? `; requests #${f.indices.join(', #')} (HANGAR_FUZZ_ONLY=${f.indices[0]} replays one)` : '';
      return `[${f.kind}] ${f.message}\n  ×${f.count}, on ${on}${replay}${f.example ? `\n${f.example}` : ''}`;
    });
  return `${failures.size} distinct failures (seed ${SEED}, ${RUNS} runs per operation):\n\n${lines.join('\n\n')}`;
}

test('generated requests follow the API document, and leave every machine stoppable and destroyable', { timeout: 600_000 }, async (t) => {
  const started = Date.now();
  const d = await startDaemon(t);
  const toml = WEB_WORKER_TOML(APP);
  const deployed = await d.cliAsync(['deploy', appDir(t, toml)]);
  assert.equal(deployed.status, 0, deployed.stdout + deployed.stderr);

  const docAnswer = await d.api('GET', '/v1/openapi.json');
  assert.equal(docAnswer.status, 200);
  const validator = new DocValidator(docAnswer.body);
  const doc = validator.doc;
  const ops = operations(doc);
  assert.ok(ops.length > 0, 'the document lists operations');
  const methods = methodsByPath(ops);

  const lists = ops.map((op, i) => fc.sample(requestsFor(op, doc), { seed: SEED + i, numRuns: RUNS }));
  [...methods].forEach(([path, has], i) => {
    // A method another template answers at the same URL (POST /v1/deployments/{id}/events is {action}=events) is not missing.
    const missing = HTTP_METHODS.filter((m) => !has.includes(m) && !ops.some((o) => o.method === m && overlaps(o.path, path)));
    if (missing.length) lists.push(fc.sample(undocumentedFor(path, missing, doc), { seed: SEED + 10_000 + i, numRuns: Math.max(2, Math.ceil(RUNS / 4)) }));
  });
  const planned: Planned[] = interleave(lists)
    .map((spec, index) => ({ index, spec }))
    .filter((p) => !ONLY || ONLY.has(p.index));
  const replay = `HANGAR_FUZZ_SEED=${SEED} HANGAR_FUZZ_RUNS=${RUNS}`;
  // At once (not as a diagnostic, which comes with the result), so a run that hangs still shows its seed.
  console.log(`api fuzz: ${replay}; ${planned.length} requests over ${ops.length} operations and ${methods.size} paths`);

  const runner = new Runner(d, validator, methods, replay);
  const bare = ops.filter(isBare200);
  if (bare.length) runner.record({ kind: 'document', message: `${bare.length} of ${ops.length} operations document only a bare 200: ${bare.map((o) => opName(o.method, o.path)).join(', ')}` }, 'GET /v1/openapi.json', '');

  const main = new Fixture(d, APP, toml);
  const scratch = new Fixture(d, SCRATCH_APP, WEB_WORKER_TOML(SCRATCH_APP));
  const ordered = [...planned.filter((p) => !destroysApp(p.spec)), ...planned.filter((p) => destroysApp(p.spec))];
  for (const p of ordered) {
    await runner.run(p, destroysApp(p.spec) ? scratch : main);
    if (runner.down) break;
  }
  const fuzzMs = Date.now() - started;
  t.diagnostic(`api fuzz: ${ordered.filter((p) => destroysApp(p.spec)).length} app-destroying requests sent last, to ${SCRATCH_APP}, recreated ${scratch.recreated} times`);

  if (!runner.down) {
    for (const f of [main, scratch]) {
      if ((await d.api('GET', `/v1/apps/${f.app}`)).status !== 200) continue;
      for (const v of await f.teardown()) runner.record(v, `the end of the run (${f.app})`, '');
    }
  }
  const classes = [...runner.stats.byClass].sort().map(([k, n]) => `${k} ${n}`).join(', ');
  const neverOk = ops.map((o) => opName(o.method, o.path)).filter((n) => !runner.stats.succeeded.has(n));
  t.diagnostic(`api fuzz: answers ${classes}; ${runner.stats.valid} requests valid per the document; never a 2xx: ${neverOk.join(', ') || 'none'}`);
  t.diagnostic(`api fuzz: ${planned.length} requests in ${Math.round(fuzzMs / 1000)} s, ${Math.round((Date.now() - started) / 1000)} s with setup and teardown`);
  assert.equal(runner.failures.size, 0, report(runner.failures));
});
