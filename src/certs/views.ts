import { isIPv4, isIPv6 } from 'node:net';
import type { CertSource, CertStatus, StoredCertificate } from '../core/certificate.js';
import { renewsAt } from './schedule.js';

/** A DNS record the user must create for a hostname: it points the name at the cluster's proxies. */
export interface DnsRecord {
  type: 'A' | 'AAAA' | 'CNAME';
  name: string;
  value: string;
}

/** A certificate as `list` and `show` give it (times ISO 8601, or null when they do not apply). */
export interface CertificateInfo {
  hostname: string;
  app: string;
  status: CertStatus;
  source: CertSource;
  issuer: string | null;
  serial: string | null;
  notBefore: string | null;
  notAfter: string | null;
  /** When an issued ACME certificate is renewed; null for imported or pending ones. */
  renewsAt: string | null;
  /** Why the last order failed, in the CA's words; null after a success. */
  lastError: string | null;
  /** When a node orders it next (a new order, a retry, a renewal); null when nothing is scheduled. */
  nextAttemptAt: string | null;
  /**
   * The records the hostname needs: A/AAAA records pointing at the addresses the proxies are reached
   * at. HTTP-01 needs the CA to reach port 80 of those addresses.
   */
  dns: DnsRecord[];
  createdAt: string;
  updatedAt: string;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** The records pointing `hostname` at `targets` (IP addresses; a name becomes a CNAME). */
export function dnsRecords(hostname: string, targets: readonly string[]): DnsRecord[] {
  return [...new Set(targets)].map((value) => ({ type: isIPv4(value) ? 'A' : isIPv6(value) ? 'AAAA' : 'CNAME', name: hostname, value }));
}

export function certificateInfo(c: StoredCertificate, opts: { dnsTargets: readonly string[]; renewBeforeMs: number }): CertificateInfo {
  const renews = c.source === 'acme' && c.status === 'issued' && c.notBefore !== null && c.notAfter !== null ? renewsAt(c.notBefore, c.notAfter, opts.renewBeforeMs) : null;
  return {
    hostname: c.hostname,
    app: c.appName,
    status: c.status,
    source: c.source,
    issuer: c.issuer,
    serial: c.serial,
    notBefore: iso(c.notBefore),
    notAfter: iso(c.notAfter),
    renewsAt: iso(renews),
    lastError: c.lastError,
    nextAttemptAt: c.source === 'acme' ? iso(c.nextAttemptAt) : null,
    dns: dnsRecords(c.hostname, opts.dnsTargets),
    createdAt: c.createdAt,
    updatedAt: c.updatedAt,
  };
}
