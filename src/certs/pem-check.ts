import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { UserError } from '../core/errors.js';

/** What a certificate says of itself, as listings show it. */
export interface CertFacts {
  issuer: string;
  serial: string;
  notBefore: number;
  notAfter: number;
  /** The DNS names it is for (SAN, else CN). */
  names: string[];
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The certificates of a PEM chain, each as its own PEM block, in the order given. */
export function splitChain(pem: string): string[] {
  return pem.match(PEM_BLOCK) ?? [];
}

/** Facts of the first (leaf) certificate of a chain. Throws node's error on one that does not parse. */
export function describeCertificate(chainPem: string): CertFacts {
  const first = splitChain(chainPem)[0];
  if (!first) throw new Error('no PEM certificate in the chain');
  return facts(new X509Certificate(first));
}

function facts(x: X509Certificate): CertFacts {
  return { issuer: issuerName(x.issuer), serial: x.serialNumber.toLowerCase(), notBefore: Date.parse(x.validFrom), notAfter: Date.parse(x.validTo), names: namesOf(x) };
}

/** The issuer's common name, else its organisation, else the whole name on one line. */
function issuerName(dn: string): string {
  const parts = dn.split('\n');
  const value = (k: string) => parts.find((p) => p.startsWith(`${k}=`))?.slice(k.length + 1);
  return value('CN') ?? value('O') ?? parts.join(', ');
}

function namesOf(x: X509Certificate): string[] {
  const san = (x.subjectAltName ?? '')
    .split(', ')
    .filter((e) => e.startsWith('DNS:'))
    .map((e) => e.slice(4));
  if (san.length > 0) return san;
  const cn = x.subject.split('\n').find((p) => p.startsWith('CN='));
  return cn ? [cn.slice(3)] : [];
}

function refuse(code: string, message: string, hint: string): UserError {
  return new UserError({ code, message, hint });
}

/**
 * Checks a certificate the user imports for `hostname`: PEM that parses (a chain, the hostname's own
 * certificate first), an unencrypted private key that matches it, names (SAN, or CN without SAN) that
 * cover the hostname, not expired at `now`, and usable by TLS. Each refusal is one UserError line with
 * a hint. Returns the chain as normalised PEM blocks, the key as PKCS#8 PEM, and the certificate's facts.
 */
export function checkImport(hostname: string, certPem: string, keyPem: string, now: number): { chainPem: string; keyPem: string; facts: CertFacts } {
  const blocks = splitChain(certPem);
  const certs = blocks.map((b, i) => {
    try {
      return new X509Certificate(b);
    } catch (err) {
      throw refuse('certificate_unparsable', `certificate ${i + 1} of the certificate file does not parse: ${(err as Error).message}`, 'give the PEM file the CA sent (-----BEGIN CERTIFICATE----- blocks)');
    }
  });
  const leaf = certs[0];
  if (!leaf) throw refuse('certificate_unparsable', 'the certificate file holds no PEM certificate', 'give the PEM file the CA sent: -----BEGIN CERTIFICATE----- blocks, the certificate for the hostname first');
  const key = parseKey(keyPem);
  if (!leaf.checkPrivateKey(key)) {
    throw refuse('certificate_key_mismatch', 'the private key does not belong to the certificate', 'give the key the certificate was requested with; the certificate file must start with the hostname\'s certificate, followed by its intermediates');
  }
  const info = facts(leaf);
  if (leaf.checkHost(hostname) === undefined) {
    throw refuse('certificate_wrong_host', `the certificate is for ${info.names.join(', ') || 'no DNS name'}, not ${hostname}`, `import a certificate whose names include ${hostname}, or import this one for one of its names`);
  }
  if (info.notAfter <= now) {
    throw refuse('certificate_expired', `the certificate expired on ${new Date(info.notAfter).toISOString()}`, `renew it with its CA, or let hangar get one: hangar certs add ${hostname}`);
  }
  const chainPem = blocks.map((b) => b.trim()).join('\n') + '\n';
  const pkcs8 = key.export({ type: 'pkcs8', format: 'pem' }).toString();
  try {
    createSecureContext({ cert: chainPem, key: pkcs8 });
  } catch (err) {
    throw refuse('certificate_unusable', `TLS cannot use this certificate and key: ${(err as Error).message}`, 'give a certificate and key of a common type (RSA of 2048 bits or more, or ECDSA)');
  }
  return { chainPem, keyPem: pkcs8, facts: info };
}

function parseKey(pem: string): KeyObject {
  if (/ENCRYPTED/.test(pem)) throw refuse('private_key_encrypted', 'the private key is encrypted with a passphrase', 'decrypt it first: openssl pkey -in key.pem -out key-plain.pem');
  try {
    return createPrivateKey(pem);
  } catch (err) {
    throw refuse('private_key_unparsable', `the private key does not parse: ${(err as Error).message}`, 'give the PEM private key (-----BEGIN PRIVATE KEY-----, or RSA/EC PRIVATE KEY)');
  }
}
