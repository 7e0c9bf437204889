import { z } from 'zod';
import { CERT_SOURCES, CERT_STATUSES } from '../core/certificate.js';
import { appName } from './contract-parts.js';

/**
 * Request and response shapes of the certificate routes (`/v1/apps/{app}/certificates`), shared by
 * the daemon and the CLI. A hostname is only bounded here; the daemon checks it (a DNS name, no
 * wildcard, no IP address) and answers `invalid_hostname` with a hint.
 */

const timestamp = z.string().describe('ISO 8601');
const hostname = z.string().min(1).max(253).describe('a DNS name such as shop.example.com (not a wildcard, not an IP address)');

export const CertParams = z.object({ app: appName, hostname });
export const AddCertBody = z.object({ hostname });

/** PEM texts: the certificate chain (the hostname's certificate first) and its unencrypted private key. */
export const ImportCertBody = z.object({
  certificate: z.string().min(1).max(256 * 1024).describe('PEM: the certificate for the hostname, then its intermediates'),
  private_key: z.string().min(1).max(64 * 1024).describe('PEM: the unencrypted private key of the certificate'),
});

export const DnsRecordView = z.object({
  type: z.enum(['A', 'AAAA', 'CNAME']),
  name: z.string(),
  value: z.string(),
});
export type DnsRecordView = z.infer<typeof DnsRecordView>;

export const CertificateView = z.object({
  hostname: z.string(),
  app: z.string(),
  status: z.enum(CERT_STATUSES).describe('pending: no certificate yet (being ordered or retried); issued: one serves; failed: the CA refused the hostname'),
  source: z.enum(CERT_SOURCES).describe('acme: ordered and renewed by hangar; imported: the user’s, never renewed'),
  issuer: z.string().nullable(),
  serial: z.string().nullable().describe('hex, lower case'),
  not_before: timestamp.nullable(),
  not_after: timestamp.nullable(),
  renews_at: timestamp.nullable().describe('when an issued ACME certificate is renewed'),
  last_error: z.string().nullable().describe("why the last order failed, in the CA's words"),
  next_attempt_at: timestamp.nullable().describe('when a node orders it next: a new order, a retry or a renewal'),
  dns_records: z.array(DnsRecordView).describe('the DNS records the hostname needs; HTTP-01 needs the CA to reach port 80 at those addresses'),
  created_at: timestamp,
  updated_at: timestamp,
});
export type CertificateView = z.infer<typeof CertificateView>;
export const CertificateListView = z.array(CertificateView);
