import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';
import { UserError } from '../core/errors.js';

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

function invalid(message: string, hint: string): UserError {
  return new UserError({ code: 'invalid_hostname', message, hint });
}

/**
 * The hostname a certificate is for, as stored and as clients send it by SNI: lower case, ASCII
 * (an internationalised name becomes its punycode `xn--` form), no trailing dot. Refused, each with a
 * hint: IP addresses (HTTP-01 certificates are for DNS names), wildcards (they need DNS-01, which
 * hangar does not do), single-label names, and anything that is not a valid DNS name.
 */
export function normalizeHostname(input: string): string {
  const raw = input.trim().replace(/\.$/, '');
  if (raw === '') throw invalid('a hostname is required', 'e.g. hangar certs add shop.example.com');
  const bare = raw.replace(/^\[(.*)\]$/, '$1');
  if (isIP(bare) !== 0) {
    throw invalid(`${raw} is an IP address; certificates here are for DNS names`, `point a DNS name at it and add that name, e.g. hangar certs add shop.example.com`);
  }
  if (raw.startsWith('*.') || raw.includes('*')) {
    throw invalid(
      `${raw} is a wildcard; wildcard certificates need the ACME DNS-01 challenge, which hangar does not do`,
      `add each hostname you serve (hangar certs add www.example.com), or import a wildcard certificate you have: hangar certs import www.example.com --cert FILE --key FILE`,
    );
  }
  const ascii = domainToASCII(raw.toLowerCase());
  const name = ascii === '' ? raw.toLowerCase() : ascii;
  const labels = name.split('.');
  const bad = labels.find((l) => !LABEL.test(l));
  if (name.length > 253 || bad !== undefined) {
    const why = name.length > 253 ? `is ${name.length} characters long (at most 253)` : bad === '' ? 'has an empty label' : `has the label ${JSON.stringify(bad)}: labels are 1-63 letters, digits and inner dashes`;
    throw invalid(`${raw} is not a valid DNS name: it ${why}`, 'give a hostname such as shop.example.com');
  }
  if (labels.length < 2) throw invalid(`${raw} is a single label; a certificate is for a full DNS name`, `give the whole name, e.g. ${name}.example.com`);
  if (/^\d+$/.test(labels.at(-1)!)) throw invalid(`${raw} is not a DNS name: its last label is a number`, 'give a hostname such as shop.example.com');
  return name;
}
