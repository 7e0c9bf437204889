import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import type { CertificateView } from '../../api/contract-certs.js';
import { UserError } from '../../core/errors.js';
import { action, common, enc } from '../common.js';
import { ago, printJson, say, stdoutColors, table } from '../output.js';

const certsPath = (app: string, hostname?: string, suffix = '') => `/v1/apps/${enc(app)}/certificates${hostname ? `/${enc(hostname)}` : ''}${suffix}`;

/** `hangar certs`: TLS certificates of an app's hostnames, from the ACME CA (HTTP-01) or imported. */
export function certsCommand(): Command {
  const cmd = new Command('certs').description("TLS certificates for an app's hostnames: ordered and renewed through ACME, or imported");
  cmd.addCommand(
    common(new Command('add').argument('<hostname>', 'a DNS name, e.g. shop.example.com').description('add a hostname; its certificate is ordered from the CA once its DNS points here')).action(
      action(async (ctx, hostname: string) => {
        const app = ctx.appName();
        const c = await ctx.api.post<CertificateView>(certsPath(app), { hostname });
        if (ctx.opts.json) return printJson(c);
        if (c.status === 'issued') return say(`${c.hostname} already has a certificate (${c.source}, valid until ${c.not_after}).`);
        say(`Added ${c.hostname} to app ${app}; its certificate is being ordered.`);
        dnsAdvice(c);
        say(`Follow it with: hangar certs show ${c.hostname} -a ${app}`);
      }),
    ),
  );
  cmd.addCommand(
    common(new Command('list').alias('ls').description('HOSTNAME, STATUS, SOURCE, ISSUER, EXPIRES and RENEWS of every hostname')).action(
      action(async (ctx) => {
        const app = ctx.appName();
        const list = await ctx.api.get<CertificateView[]>(certsPath(app));
        if (ctx.opts.json) return printJson(list);
        if (list.length === 0) return say(`App ${app} has no certificates. Add a hostname with: hangar certs add HOSTNAME -a ${app}`);
        say(table(['HOSTNAME', 'STATUS', 'SOURCE', 'ISSUER', 'EXPIRES', 'RENEWS', 'LAST ERROR'], list.map((c) => [c.hostname, colorStatus(c), c.source, c.issuer, day(c.not_after), day(c.renews_at), c.last_error])));
      }),
    ),
  );
  cmd.addCommand(
    common(new Command('show').argument('<hostname>', 'the hostname').description('one hostname: its certificate, the last error, the next attempt and the DNS records it needs')).action(
      action(async (ctx, hostname: string) => {
        const c = await ctx.api.get<CertificateView>(certsPath(ctx.appName(), hostname));
        if (ctx.opts.json) return printJson(c);
        show(c);
      }),
    ),
  );
  cmd.addCommand(
    common(new Command('remove').alias('rm').argument('<hostname>', 'the hostname').description('remove a hostname and its certificate; it is served no more')).action(
      action(async (ctx, hostname: string) => {
        const c = await ctx.api.delete<CertificateView>(certsPath(ctx.appName(), hostname));
        if (ctx.opts.json) return printJson(c);
        say(`Removed ${c.hostname} and its certificate from app ${c.app}.`);
      }),
    ),
  );
  cmd.addCommand(
    common(new Command('import').argument('<hostname>', 'the hostname').description('import your own certificate and key for a hostname (served at once, never renewed)'))
      .requiredOption('--cert <file>', 'PEM file: the certificate for the hostname, then its intermediates')
      .requiredOption('--key <file>', 'PEM file: its unencrypted private key')
      .action(
        action(async (ctx, hostname: string) => {
          const o = ctx.opts as { cert: string; key: string };
          const body = { certificate: readPem(o.cert, '--cert'), private_key: readPem(o.key, '--key') };
          const c = await ctx.api.post<CertificateView>(certsPath(ctx.appName(), hostname, '/import'), body);
          if (ctx.opts.json) return printJson(c);
          say(`Imported the certificate for ${c.hostname} (issued by ${c.issuer}, valid until ${c.not_after}); it serves now and is not renewed by hangar.`);
        }),
      ),
  );
  return cmd;
}

function readPem(file: string, flag: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new UserError({ code: 'invalid_input', message: `cannot read ${flag} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, hint: `give ${flag} a PEM file you can read` });
  }
}

function colorStatus(c: CertificateView): string {
  if (c.status === 'issued') return c.last_error ? stdoutColors.yellow('issued (renewal failing)') : stdoutColors.green('issued');
  if (c.status === 'failed') return stdoutColors.red('failed');
  return stdoutColors.yellow('pending');
}

const day = (iso: string | null) => iso?.slice(0, 10) ?? '';

function dnsAdvice(c: CertificateView): void {
  if (c.dns_records.length === 0) return say(`Point ${c.hostname} at this cluster's public address (an A or AAAA record).`);
  say(c.status === 'issued' ? 'DNS records it needs (the CA reaches port 80 there at each renewal):' : 'Create this DNS record (the CA must reach port 80 there to validate):');
  say(table(['TYPE', 'NAME', 'VALUE'], c.dns_records.map((r) => [r.type, r.name, r.value])));
}

function show(c: CertificateView): void {
  const rows: Array<[string, string | null]> = [
    ['Hostname', c.hostname],
    ['App', c.app],
    ['Status', colorStatus(c)],
    ['Source', c.source],
    ['Issuer', c.issuer],
    ['Serial', c.serial],
    ['Valid from', c.not_before],
    ['Expires', c.not_after],
    ['Renews', c.renews_at],
    ['Next attempt', c.status === 'issued' && !c.last_error ? null : c.next_attempt_at],
    ['Last error', c.last_error],
    ['Added', `${c.created_at} (${ago(c.created_at)})`],
  ];
  for (const [k, v] of rows) if (v) say(`${`${k}:`.padEnd(14)}${v}`);
  say('');
  dnsAdvice(c);
  if (c.status === 'failed') say(`The CA refused this hostname; fix the cause above, then retry with: hangar certs add ${c.hostname} -a ${c.app}`);
}
