import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UserError } from '../core/errors.js';
import { normalizeHostname } from './hostname.js';

function refusal(input: string): UserError {
  try {
    normalizeHostname(input);
  } catch (err) {
    assert.ok(err instanceof UserError, String(err));
    assert.equal(err.code, 'invalid_hostname');
    assert.ok(err.hint, `a hint for ${input}`);
    return err;
  }
  return assert.fail(`${input} was accepted`);
}

test('hostnames are lower-cased, lose a trailing dot, and internationalised names become punycode', () => {
  assert.equal(normalizeHostname('Shop.Example.COM'), 'shop.example.com');
  assert.equal(normalizeHostname(' shop.example.com. '), 'shop.example.com');
  assert.equal(normalizeHostname('a-b.c1.example'), 'a-b.c1.example');
  assert.equal(normalizeHostname('bücher.example'), 'xn--bcher-kva.example');
  assert.equal(normalizeHostname('xn--bcher-kva.example'), 'xn--bcher-kva.example');
  assert.equal(normalizeHostname(`${'a'.repeat(63)}.example`), `${'a'.repeat(63)}.example`);
});

test('wildcards are refused with a hint about DNS-01 and importing', () => {
  const err = refusal('*.example.com');
  assert.match(err.message, /wildcard/);
  assert.match(err.message, /DNS-01/);
  assert.match(err.hint!, /hangar certs import/);
  refusal('shop.*.example.com');
});

test('IP addresses are refused, v4 and v6, bracketed or not', () => {
  for (const ip of ['127.0.0.1', '10.1.2.3', '::1', '[2001:db8::1]', '2001:db8::1']) assert.match(refusal(ip).message, /IP address/, ip);
});

test('what is not a DNS name is refused, saying why', () => {
  assert.match(refusal('').message, /required/);
  assert.match(refusal('localhost').message, /single label/);
  assert.match(refusal('shop..example.com').message, /empty label/);
  assert.match(refusal('-shop.example.com').message, /"-shop"/);
  assert.match(refusal('shop-.example.com').message, /"shop-"/);
  assert.match(refusal('shop_1.example.com').message, /"shop_1"/);
  assert.match(refusal(`${'a'.repeat(64)}.example`).message, /label/);
  assert.match(refusal(`${'abcdefghi.'.repeat(26)}com`).message, /at most 253/);
  assert.match(refusal('shop.example.123').message, /number/);
  refusal('http://shop.example.com');
  refusal('shop.example.com:443');
  refusal('shop example.com');
});
