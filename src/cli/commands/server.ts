import { Command } from 'commander';
import { availableParallelism } from 'node:os';
import { resolveHome } from '../../daemon/home.js';
import { DEFAULT_API_PORT, DEFAULT_PROXY_PORT, DEFAULT_PROXY_TLS_PORT } from '../../daemon/defaults.js';
import { parseListen } from '../../daemon/listen.js';
import { version } from '../version.js';
import { reportError, say, warn } from '../output.js';
import { parseDuration } from '../../core/duration.js';
import { UserError } from '../../core/errors.js';
import { parsePacking, type PackingOptions } from '../../proxy/workers/packing.js';

interface ServerOpts {
  listen: string;
  proxyListen: string;
  proxyTlsListen?: string;
  proxyWorkers?: string;
  acmeDirectory?: string;
  acmeCaFile?: string;
  acmeEmail?: string;
  stateDir?: string;
  portFallback?: boolean;
  debug?: boolean;
  database?: string;
  region?: string;
  hostName?: string;
  advertise?: string;
  hostDownAfter: string;
  clusterSecretFile?: string;
}

/** Only PostgreSQL URLs: anything else is refused before the daemon starts. */
function checkDatabaseUrl(url: string): void {
  let ok = false;
  try {
    ok = ['postgres:', 'postgresql:'].includes(new URL(url).protocol);
  } catch {
    ok = false;
  }
  if (!ok) throw new UserError({ code: 'invalid_database_url', message: 'the database URL must be a PostgreSQL URL (postgres://USER:PASSWORD@HOST:PORT/DB)', hint: 'check --database or HANGAR_DATABASE_URL; without either, the state is SQLite in the state directory' });
}

/** HANGAR_PROXY_PACKING, read before the daemon starts: a bad value is one line with a hint. */
function packingOf(text: string | undefined): PackingOptions | false {
  try {
    return parsePacking(text);
  } catch (err) {
    throw new UserError({ code: 'invalid_packing', message: (err as Error).message, hint: 'leave it unset for the defaults, or set HANGAR_PROXY_PACKING=off to keep every worker accepting as it comes' });
  }
}

export function serverCommand(): Command {
  return new Command('server')
    .description('run the hangar daemon in the foreground (state, API, proxy, machines)')
    .option('--listen <addr>', 'API address', `127.0.0.1:${DEFAULT_API_PORT}`)
    .option('--proxy-listen <addr>', 'proxy address', `127.0.0.1:${DEFAULT_PROXY_PORT}`)
    .option('--proxy-tls-listen <addr>', `the proxy's HTTPS address, or "off" (default 127.0.0.1:${DEFAULT_PROXY_TLS_PORT}, or a free port when that one is taken)`)
    .option('--proxy-workers <n>', `proxy worker processes, 0 = in the daemon's own process (default: one per core, ${availableParallelism()} here; $HANGAR_PROXY_WORKERS)`)
    .option('--acme-directory <url>', "the ACME CA that `hangar certs add` orders certificates from (default: Let's Encrypt; $HANGAR_ACME_DIRECTORY)")
    .option('--acme-ca-file <file>', "a PEM root to trust for the ACME directory's HTTPS (a private CA)")
    .option('--acme-email <address>', 'the contact registered with the ACME account')
    .option('--state-dir <dir>', 'state directory (default: $HANGAR_HOME, else ~/.hangar)')
    .option('--port-fallback', 'if a default port is taken, use a free one instead of failing')
    .option('--database <url>', 'keep the state in PostgreSQL, shared with the other nodes of a cluster (default: $HANGAR_DATABASE_URL, else SQLite in the state directory)')
    .option('--region <code>', "this host's region (default: $HANGAR_REGION, else local)")
    .option('--host-name <name>', "this host's name in the cluster (default: $HANGAR_HOST_NAME, else the machine's hostname)")
    .option('--advertise <ip>', 'the address other nodes reach this host at (default: the --listen address)')
    .option('--cluster-secret-file <file>', 'the secret nodes authenticate each other with, the same file on every host (default: one kept in the database)')
    .option('--host-down-after <duration>', 'a host whose node has not heartbeat for this long is down', '10s')
    .option('--debug', 'show stack traces for errors')
    .action(async (opts: ServerOpts) => {
      try {
        const home = resolveHome(opts.stateDir);
        const database = opts.database ?? process.env.HANGAR_DATABASE_URL;
        if (database !== undefined) checkDatabaseUrl(database);
        const workersText = opts.proxyWorkers ?? process.env.HANGAR_PROXY_WORKERS;
        const proxyWorkers = workersText === undefined ? availableParallelism() : Number(workersText);
        if (!Number.isInteger(proxyWorkers) || proxyWorkers < 0 || proxyWorkers > 64) throw new UserError({ code: 'invalid_workers', message: `--proxy-workers ${JSON.stringify(workersText)} is not a number of processes from 0 to 64`, hint: 'e.g. --proxy-workers 2, or 0 to run the proxy in the daemon itself' });
        const proxyPacking = packingOf(process.env.HANGAR_PROXY_PACKING);
        const downAfterMs = parseDuration(opts.hostDownAfter);
        if (downAfterMs === undefined || downAfterMs < 1000) throw new UserError({ code: 'invalid_duration', message: `--host-down-after ${JSON.stringify(opts.hostDownAfter)} is not a duration of at least 1s`, hint: 'e.g. --host-down-after 10s' });
        // Loaded only here: every other command stays light (no SQLite, fastify, kysely at start-up).
        const { Daemon } = await import('../../daemon/daemon.js');
        const daemon = await Daemon.start({
          home,
          listen: parseListen(opts.listen, '--listen'),
          proxyListen: parseListen(opts.proxyListen, '--proxy-listen'),
          proxyTlsListen: opts.proxyTlsListen === 'off' ? 'off' : opts.proxyTlsListen !== undefined ? parseListen(opts.proxyTlsListen, '--proxy-tls-listen') : undefined,
          portFallback: opts.portFallback,
          proxyWorkers,
          proxyPacking,
          acme: { directoryUrl: opts.acmeDirectory ?? process.env.HANGAR_ACME_DIRECTORY, caFile: opts.acmeCaFile, email: opts.acmeEmail },
          version: version(),
          database: database || undefined,
          host: { name: opts.hostName ?? process.env.HANGAR_HOST_NAME, region: opts.region ?? process.env.HANGAR_REGION, address: opts.advertise },
          hostTiming: { downAfterMs },
          clusterSecretFile: opts.clusterSecretFile,
        });
        say(`hangar daemon ${version()} (pid ${process.pid}): API ${daemon.apiUrl}, proxy ${daemon.proxyUrl}${daemon.proxyTlsUrl ? ` and ${daemon.proxyTlsUrl}` : ''}, state in ${database ? 'PostgreSQL' : home}, host ${daemon.host.name} (${daemon.host.region})`);
        for (const w of daemon.warnings) warn(w);
        let stopping = false;
        const shutdown = (sig: string) => {
          if (stopping) return;
          stopping = true;
          say(`${sig}: stopping the daemon; machines keep running`);
          daemon.stop().then(
            () => process.exit(0),
            (err) => process.exit(reportError(err, Boolean(opts.debug))),
          );
        };
        process.on('SIGTERM', () => shutdown('SIGTERM'));
        process.on('SIGINT', () => shutdown('SIGINT'));
      } catch (err) {
        process.exit(reportError(err, Boolean(opts.debug)));
      }
    });
}
