import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ValidationError } from '../core/errors.js';
import { spellingVariant } from './diagnostics.js';
import { parseConfig } from './index.js';

const parse = (text: string) => parseConfig(text, '/apps/x/fly.toml');

test('unknown keys anywhere are warnings with their paths, and the file loads', () => {
  const { config, warnings } = parse(`app = "x"
future_key = true
[http_service]
internal_port = 3000
shiny = "new"
[[services]]
internal_port = 9000
[[services.ports]]
port = 9000
flavour = "tcp"
[experimental]
not_yet_invented = 1
[vm]
cpus = 2
`);
  assert.equal(config.httpService!.internalPort, 3000);
  assert.equal(config.vm[0]!.cpus, 2);
  assert.deepEqual(warnings.map((w) => w.path).sort(), ['experimental.not_yet_invented', 'future_key', 'http_service.shiny', 'services[0].ports[0].flavour']);
  assert.ok(warnings.every((w) => /^unknown key ".+" is ignored$/.test(w.message)), 'no hint where no known key is near');
});

test('wrong types and values of known keys stay errors, next to unknown-key warnings', () => {
  let err: unknown;
  try {
    parse('app = "x"\nbananas = 1\n[http_service]\ninternal_port = true\nforce_https = "yes"\n');
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ValidationError);
  assert.deepEqual(err.details.map((d) => d.path), ['http_service.internal_port', 'http_service.force_https']);
});

test('a hint names only the same key misspelt: separators, case, one slip in a word', () => {
  assert.equal(spellingVariant('kill-timeout', ['kill_signal', 'kill_timeout']), 'kill_timeout');
  assert.equal(spellingVariant('Internal_Port', ['internal_port']), 'internal_port');
  assert.equal(spellingVariant('internal_prot', ['internal_port', 'processes']), 'internal_port');
  assert.equal(spellingVariant('relase_command', ['release_command', 'release_command_timeout']), 'release_command');
  assert.equal(spellingVariant('cpu_knd', ['cpu_kind', 'cpus']), 'cpu_kind');
});

test('no hint points to a different key with a different meaning', () => {
  const vm = ['size', 'memory', 'memory_mb', 'cpus', 'cpu_kind', 'processes'];
  assert.equal(spellingVariant('memory_gb', vm), undefined, 'a unit is not a typo');
  assert.equal(spellingVariant('gpus', vm), undefined, 'gpus is not cpus');
  assert.equal(spellingVariant('max_machines_running', ['min_machines_running']), undefined);
  assert.equal(spellingVariant('port', ['ports', 'internal_port']), undefined, 'a plural is another key');
  assert.equal(spellingVariant('build_target', ['command', 'registry', 'image', 'dockerfile', 'ignorefile', 'args']), undefined);
  assert.equal(spellingVariant('target', ['build-target', 'image']), undefined);
  assert.equal(spellingVariant('shared-cpu-3x', ['shared-cpu-2x', 'shared-cpu-4x']), undefined);
});

test('the did-you-mean hint reaches the warning', () => {
  const { warnings } = parse('app = "x"\nkill-timeout = "5s"\n[[vm]]\nmemory_gb = 2\n');
  assert.deepEqual(
    [...warnings].sort((a, b) => a.path.localeCompare(b.path)),
    [
      { path: 'kill-timeout', message: 'unknown key "kill-timeout" is ignored (did you mean "kill_timeout"?)' },
      { path: 'vm[0].memory_gb', message: 'unknown key "memory_gb" is ignored' },
    ],
  );
});

test('each ignored key of a file is one warning, not repeated', () => {
  const { warnings } = parse(`app = "x"
swap_size_mb = 512
[build]
builder = "paketo"
[deploy]
seed_command = "seed"
[[vm]]
max_memory_mb = 1024
[[services]]
internal_port = 1
script_checks = []
[[services.tcp_checks]]
restart_limit = 0
[[services.tcp_checks]]
restart_limit = 0
`);
  const keys = warnings.map((w) => `${w.path}|${w.message}`);
  assert.equal(new Set(keys).size, keys.length);
  assert.deepEqual(warnings.map((w) => w.path), [
    'swap_size_mb',
    'build.builder',
    'deploy.seed_command',
    'services[0].script_checks',
    'services[0].tcp_checks[0].restart_limit',
    'services[0].tcp_checks[1].restart_limit',
    'vm[0].max_memory_mb',
  ]);
});
