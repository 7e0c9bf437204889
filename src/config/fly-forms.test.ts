import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validationError } from './test-support.js';
import { machineConfigFor, parseConfig, processGroups } from './index.js';

const parse = (text: string) => parseConfig(text, '/apps/x/fly.toml');
const paths = (ws: Array<{ path: string }>) => ws.map((w) => w.path);

test('processes = [] (old fly launch) means no processes, silently', () => {
  const { config, warnings } = parse('app = "x"\nprocesses = []\n');
  assert.deepEqual(config.processes, {});
  assert.deepEqual(processGroups(config), ['app']);
  assert.deepEqual(warnings, []);
});

test('processes as a list of {name, command} tables becomes [processes], with a warning', () => {
  const { config, warnings } = parse('app = "x"\n[[processes]]\nname = "web"\ncommand = "node server.js"\n');
  assert.deepEqual(config.processes, { web: 'node server.js' });
  assert.deepEqual(paths(warnings), ['processes']);
});

test('concurrency = "soft,hard" in [[services]] is request limits, as flyctl reads it', () => {
  const { config, warnings } = parse('app = "x"\n[[services]]\ninternal_port = 8080\nconcurrency = "20,25"\n');
  assert.deepEqual(config.services[0]!.concurrency, { type: 'requests', softLimit: 20, hardLimit: 25 });
  assert.deepEqual(paths(warnings), ['services[0].concurrency']);
  const bad = assertProblems('app = "x"\n[[services]]\ninternal_port = 8080\nconcurrency = "lots"\n');
  assert.deepEqual(bad, ['services[0].concurrency']);
});

test('ports and internal ports given as strings are numbers, with a warning each', () => {
  const { config, warnings } = parse(`app = "x"
[http_service]
internal_port = "3000"
[[services]]
internal_port = "8080"
[[services.ports]]
port = "443"
handlers = ["tls", "http"]
`);
  assert.equal(config.httpService!.internalPort, 3000);
  assert.equal(config.services[0]!.internalPort, 8080);
  assert.equal(config.services[0]!.ports[0]!.port, 443);
  assert.deepEqual(paths(warnings), ['http_service.internal_port', 'services[0].internal_port', 'services[0].ports[0].port']);
  assert.deepEqual(assertProblems('app = "x"\n[[services]]\ninternal_port = "eighty"\n'), ['services[0].internal_port']);
});

test('a port range is accepted but not served: the entry keeps its port, or serves nothing', () => {
  const { config, warnings } = parse(`app = "x"
[[services]]
internal_port = 8080
[[services.ports]]
start_port = 10000
end_port = 10100
[[services.ports]]
port = 80
start_port = 100
end_port = 200
handlers = ["http"]
`);
  assert.deepEqual(config.services[0]!.ports, [{ port: 80, handlers: ['http'], forceHttps: false, h2Backend: false }]);
  assert.deepEqual(paths(warnings), ['services[0].ports[0]', 'services[0].ports[1]']);
  assert.match(warnings[0]!.message, /10000-10100.*not served/);
  assert.match(warnings[1]!.message, /only port 80 is served/);
  assert.deepEqual(assertProblems('app = "x"\n[[services]]\ninternal_port = 1\n[[services.ports]]\nhandlers = ["http"]\n'), ['services[0].ports[0].port']);
});

test('[vm] as one table, [[vm]] as an array and [compute] are all [[vm]]', () => {
  assert.deepEqual(parse('app = "x"\n[vm]\ncpus = 2\n').config.vm, [{ cpus: 2 }]);
  assert.deepEqual(parse('app = "x"\nvm.size = "shared-cpu-1x"\n').config.vm, [{ size: 'shared-cpu-1x', cpus: 1, cpuKind: 'shared', memoryMb: 256 }]);
  const compute = parse('app = "x"\n[[compute]]\nmemory = "2gb"\n');
  assert.deepEqual(compute.config.vm, [{ memoryMb: 2048 }]);
  assert.deepEqual(paths(compute.warnings), ['compute']);
});

test("Fly's size presets fill cpus, cpu_kind and memory; explicit keys override them", () => {
  const vm = (body: string) => parse(`app = "x"\n[[vm]]\n${body}\n`).config.vm[0];
  assert.deepEqual(vm('size = "shared-cpu-2x"'), { size: 'shared-cpu-2x', cpus: 2, cpuKind: 'shared', memoryMb: 512 });
  assert.deepEqual(vm('size = "performance-4x"'), { size: 'performance-4x', cpus: 4, cpuKind: 'performance', memoryMb: 8192 });
  assert.deepEqual(vm('size = "performance-1x"\nmemory = "4gb"\ncpus = 2'), { size: 'performance-1x', cpus: 2, cpuKind: 'performance', memoryMb: 4096 });
  const gpu = parse('app = "x"\n[[vm]]\nsize = "a10"\n');
  assert.equal(gpu.config.vm[0]!.cpus, 8);
  assert.match(gpu.warnings[0]!.message, /includes a GPU \(a10\), which hangar does not provide/);
  const [problem] = validationError(() => parse('app = "x"\n[[vm]]\nsize = "Shared-CPU-1X"\n')).details;
  assert.equal(problem!.path, 'vm[0].size');
  assert.match(problem!.message, /did you mean "shared-cpu-1x"/);
});

test('memory takes flyctl units: 1g, 1GiB, 512mb, "512" and 1024 are megabytes', () => {
  const mb = (memory: string) => parse(`app = "x"\n[[vm]]\nmemory = ${memory}\n`).config.vm[0]!.memoryMb;
  assert.equal(mb('"1g"'), 1024);
  assert.equal(mb('"1gb"'), 1024);
  assert.equal(mb('"1GiB"'), 1024);
  assert.equal(mb('"1.5g"'), 1536);
  assert.equal(mb('"512mb"'), 512);
  assert.equal(mb('"512 MB"'), 512);
  assert.equal(mb('"512"'), 512);
  assert.equal(mb('1024'), 1024);
  assert.deepEqual(assertProblems('app = "x"\n[[vm]]\nmemory = "lots"\n'), ['vm[0].memory']);
  assert.deepEqual(assertProblems('app = "x"\n[[vm]]\nmemory = "512kb"\n'), ['vm[0].memory'], 'under a megabyte is no memory');
});

test('memory and memory_mb together: memory_mb wins, as on Fly, with a warning', () => {
  const { config, warnings } = parse('app = "x"\n[[vm]]\nmemory = "1gb"\nmemory_mb = 256\n');
  assert.equal(config.vm[0]!.memoryMb, 256);
  assert.deepEqual(paths(warnings), ['vm[0].memory']);
});

test('[[restart]] policy = "never" is the "no" policy', () => {
  const cfg = parse('app = "x"\n[[restart]]\npolicy = "never"\n').config;
  assert.equal(cfg.restart[0]!.policy, 'no');
  assert.deepEqual(machineConfigFor(cfg, { group: 'app', image: 'i' }).restart, { policy: 'no' });
  assert.deepEqual(assertProblems('app = "x"\n[[restart]]\npolicy = "sometimes"\n'), ['restart[0].policy']);
});

test('build_target is build-target; when both are set build_target wins, with a warning', () => {
  const one = parse('app = "x"\n[build]\nbuild_target = "runtime"\n');
  assert.equal(one.config.build.buildTarget, 'runtime');
  assert.deepEqual(one.warnings, []);
  const both = parse('app = "x"\n[build]\nbuild_target = "a"\nbuild-target = "b"\n');
  assert.equal(both.config.build.buildTarget, 'a');
  assert.deepEqual(paths(both.warnings), ['build.build-target']);
});

test('[experimental] cmd is the command of a group without [processes]; entrypoint comes first', () => {
  const cfg = parse('app = "x"\n[experimental]\ncmd = ["serve", "--port", "8080"]\nentrypoint = "/app/run.sh"\n');
  assert.deepEqual(machineConfigFor(cfg.config, { group: 'app', image: 'i' }).init, { cmd: ['/app/run.sh', 'serve', '--port', '8080'] });
  assert.deepEqual(paths(cfg.warnings), ['experimental.entrypoint']);
  const str = parse('app = "x"\n[experimental]\ncmd = "node server.js"\n').config;
  assert.deepEqual(machineConfigFor(str, { group: 'app', image: 'i' }).init, { cmd: ['node', 'server.js'] });
  const both = parse('app = "x"\n[experimental]\ncmd = ["old"]\n[processes]\nweb = "node web.js"\n');
  assert.deepEqual(machineConfigFor(both.config, { group: 'web', image: 'i' }).init, { cmd: ['node', 'web.js'] });
  assert.deepEqual(paths(both.warnings), ['experimental.cmd']);
  assert.deepEqual(assertProblems('app = "x"\n[experimental]\ncmd = 5\n'), ['experimental.cmd']);
});

test('[experimental] kill_timeout is the top-level one when that is absent', () => {
  const lifted = parse('app = "x"\n[experimental]\nkill_timeout = 30\n');
  assert.equal(lifted.config.killTimeoutMs, 30_000);
  assert.deepEqual(paths(lifted.warnings), ['experimental.kill_timeout', 'kill_timeout']);
  const shadowed = parse('app = "x"\nkill_timeout = "10s"\n[experimental]\nkill_timeout = 30\n');
  assert.equal(shadowed.config.killTimeoutMs, 10_000);
  assert.match(shadowed.warnings[0]!.message, /ignored/);
});

test('old list forms: [[env]], check headers as {name, value}, [[checks]] with names', () => {
  const { config, warnings } = parse(`app = "x"
[[env]]
A = "1"
[[env]]
B = 2
[[checks]]
name = "alive"
type = "tcp"
port = 9000
[[services]]
internal_port = 8080
[[services.http_checks]]
headers = [{ name = "X-Probe", value = "hangar" }]
`);
  assert.deepEqual(config.env, { A: '1', B: '2' });
  assert.equal(config.checks.alive?.port, 9000);
  assert.deepEqual(config.services[0]!.httpChecks[0]!.headers, { 'X-Probe': 'hangar' });
  assert.deepEqual(paths(warnings), ['env', 'services[0].http_checks[0].headers', 'checks']);
});


function assertProblems(text: string): string[] {
  return validationError(() => parse(text)).details.map((d) => d.path);
}
