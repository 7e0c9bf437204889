import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UserError, ValidationError } from '../core/errors.js';
import { isPlaceholderName, parseConfig } from './index.js';

const parse = (text: string, app?: string) => parseConfig(text, '/apps/x/fly.toml', { app });

function thrown(fn: () => unknown): UserError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof UserError, `expected a UserError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected an error');
}

test('a file without app takes the name from the override', () => {
  const { config, warnings } = parse('[http_service]\n', 'staging-api');
  assert.equal(config.app, 'staging-api');
  assert.deepEqual(warnings, []);
});

test('a file without app and no override is one clear line with a hint', () => {
  const err = thrown(() => parse('[http_service]\n'));
  assert.equal(err.code, 'no_app');
  assert.equal(err.message, 'fly.toml does not name the app');
  assert.equal(err.hint, 'set app = "..." in the file, or pass -a NAME');
  assert.ok(!(err instanceof ValidationError), 'not the many-problems form');
});

test('a placeholder name is replaced by the override, with a warning', () => {
  for (const name of ['{APP_NAME}', '<app-name>', 'CHANGE_ME', 'your-app-name', '$FLY_APP', 'app-name']) {
    const { config, warnings } = parse(`app = ${JSON.stringify(name)}\n`, 'real-app');
    assert.equal(config.app, 'real-app', name);
    assert.deepEqual(warnings.map((w) => w.path), ['app'], name);
    assert.match(warnings[0]!.message, /placeholder and was replaced by "real-app"/);
  }
});

test('a placeholder without an override is reported, even when it would pass as a name', () => {
  const err = thrown(() => parse('app = "your-app-name"\n'));
  assert.equal(err.code, 'no_app');
  assert.match(err.message, /"your-app-name", a placeholder/);
});

test('with other problems, the missing name is listed among them', () => {
  const err = thrown(() => parse('kill_timeout = "soon"\n'));
  assert.ok(err instanceof ValidationError);
  assert.deepEqual(err.details.map((d) => d.path), ['app', 'kill_timeout']);
});

test('the override also wins over a real name, and must itself be a valid name', () => {
  assert.equal(parse('app = "shop"\n', 'shop-staging').config.app, 'shop-staging');
  const err = thrown(() => parse('app = "shop"\n', 'Bad_Name'));
  assert.deepEqual(err.details.map((d) => d.path), ['app']);
});

test('real names are not placeholders', () => {
  for (const name of ['shop', 'my-app', 'todo-node', 'appname-api']) assert.equal(isPlaceholderName(name), false, name);
});
