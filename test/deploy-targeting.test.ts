import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { appDir, BIN, startDaemon, type TestDaemon } from './helpers.js';

type M = { id: string; state: string; region: string; process_group: string; release_version: number | null; config: { image: string } };
const machines = async (d: TestDaemon, app: string) => (await d.api('GET', `/v1/apps/${app}/machines`)).body as M[];
const sh = (d: TestDaemon, script: string) => spawnSync('bash', ['-c', script], { env: { ...d.env, H: `${process.execPath} ${BIN}` }, encoding: 'utf8', timeout: 120_000 });

const MULTI = `app = "multi"
primary_region = "ams"
kill_timeout = 2

[env]
MESSAGE = "v1"

[processes]
zk = "node server.js"
supervisor = "node server.js"
conductor = "node server.js"
`;

test("targeting: --only-machines, --exclude-machines, --regions, --exclude-regions and --process-groups touch exactly what they select", async (t) => {
  const d = await startDaemon(t);
  const dir = appDir(t, MULTI);
  assert.equal((await d.cliAsync(['deploy', dir])).status, 0);
  const zk = (await machines(d, 'multi')).find((m) => m.process_group === 'zk')!;
  // Two more zk machines in dfw, one in ord.
  for (const region of ['dfw', 'dfw', 'ord']) assert.equal(d.cli(['machines', 'clone', zk.id, '--region', region, '-a', 'multi']).status, 0);
  const versions = async () => new Map((await machines(d, 'multi')).map((m) => [m.id, m.release_version]));
  const expectOnly = async (changed: string[], version: number, before: Map<string, number | null>) => {
    const after = await versions();
    for (const [id, v] of after) assert.equal(v, changed.includes(id) ? version : before.get(id), `machine ${id}`);
  };
  const all = await machines(d, 'multi');
  const dfw = all.filter((m) => m.region === 'dfw').map((m) => m.id);

  let before = await versions();
  let r = await d.cliAsync(['deploy', dir, '--process-groups', 'supervisor,conductor']);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  await expectOnly(all.filter((m) => m.process_group !== 'zk').map((m) => m.id), 2, before);

  before = await versions();
  r = await d.cliAsync(['deploy', dir, '--regions', 'dfw']);
  assert.equal(r.status, 0);
  await expectOnly(dfw, 3, before);

  before = await versions();
  r = await d.cliAsync(['deploy', dir, '--only-regions', 'ams', '--exclude-machines', zk.id]);
  assert.equal(r.status, 0);
  await expectOnly(all.filter((m) => m.region === 'ams' && m.id !== zk.id).map((m) => m.id), 4, before);

  before = await versions();
  r = await d.cliAsync(['deploy', dir, '--exclude-regions', 'ams,dfw']);
  assert.equal(r.status, 0);
  await expectOnly(all.filter((m) => m.region === 'ord').map((m) => m.id), 5, before);

  // The seed's batches by machine list, verbatim.
  const image = JSON.parse((await d.cliAsync(['deploy', dir, '--build-only', '--push', '--json'])).stdout).image as string;
  before = await versions();
  const batch1 = sh(d, `cd ${dir} && $H machines list --json | jq -r '.[] | select(.region == "dfw") | .id' > dfw-machines.txt && head -n 1 dfw-machines.txt > batch-1.txt && $H deploy --image ${image} --only-machines $(paste -sd, - < batch-1.txt) && cat batch-1.txt`);
  assert.equal(batch1.status, 0, batch1.stdout + batch1.stderr);
  const first = batch1.stdout.trim().split('\n').at(-1)!;
  await expectOnly([first], 6, before);
  before = await versions();
  const batch2 = sh(d, `cd ${dir} && head -n 5 dfw-machines.txt | grep -vxFf batch-1.txt > batch-2.txt && $H deploy --image ${image} --only-machines $(paste -sd, - < batch-2.txt) && cat batch-2.txt`);
  assert.equal(batch2.status, 0, batch2.stderr);
  await expectOnly(dfw.filter((id) => id !== first), 7, before);
  assert.ok((await machines(d, 'multi')).filter((m) => dfw.includes(m.id)).every((m) => m.config.image === image), 'both batches run THE_IMAGE');
});

test("the seed's stopped-machine pipeline: build-only, jq, deploy --image --only-machines updates stopped machines without starting them", async (t) => {
  const d = await startDaemon(t);
  const dir = appDir(t, MULTI.replace('multi', 'jobs'));
  assert.equal((await d.cliAsync(['deploy', dir, '--process-groups', 'zk'])).status, 0);
  const zk = (await machines(d, 'jobs'))[0]!;
  for (let i = 0; i < 3; i++) d.cli(['machines', 'clone', zk.id, '-a', 'jobs']);
  const ms = await machines(d, 'jobs');
  const stopped = ms.slice(0, 2).map((m) => m.id);
  for (const id of stopped) assert.equal((await d.api('POST', `/v1/apps/jobs/machines/${id}/stop`, {})).body.state, 'stopped');
  const r = sh(
    d,
    `set -e; cd ${dir}
IMG=$($H deploy --build-only --push --json | jq -r .image)
$H machines list --json | jq -r '.[] | select(.state == "stopped") | .id' > stopped-machines.txt
$H deploy --image "$IMG" --only-machines $(cat stopped-machines.txt | paste -sd, -)
echo "IMAGE=$IMG"`,
  );
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const img = /IMAGE=(\S+)/.exec(r.stdout)![1];
  const after = await machines(d, 'jobs');
  for (const m of after) {
    if (stopped.includes(m.id)) {
      assert.equal(m.state, 'stopped', 'updated without being started');
      assert.equal(m.config.image, img);
      assert.equal(m.release_version, 2);
    } else {
      assert.equal(m.state, 'started');
      assert.equal(m.release_version, 1, 'running machines were not touched');
    }
  }
  const started = (await d.api('POST', `/v1/apps/jobs/machines/${stopped[0]}/start`)).body;
  assert.equal(started.config.image, img, 'it runs the new image at its next start');
});
