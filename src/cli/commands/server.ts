import { Command } from 'commander';
import { resolveHome } from '../../daemon/home.js';
import { DEFAULT_API_PORT, DEFAULT_PROXY_PORT } from '../../daemon/defaults.js';
import { parseListen } from '../../daemon/listen.js';
import { version } from '../version.js';
import { reportError, say } from '../output.js';

export function serverCommand(): Command {
  return new Command('server')
    .description('run the hangar daemon in the foreground (state, API, proxy, machines)')
    .option('--listen <addr>', 'API address', `127.0.0.1:${DEFAULT_API_PORT}`)
    .option('--proxy-listen <addr>', 'proxy address', `127.0.0.1:${DEFAULT_PROXY_PORT}`)
    .option('--state-dir <dir>', 'state directory (default: $HANGAR_HOME, else ~/.hangar)')
    .option('--port-fallback', 'if a default port is taken, use a free one instead of failing')
    .option('--debug', 'show stack traces for errors')
    .action(async (opts: { listen: string; proxyListen: string; stateDir?: string; portFallback?: boolean; debug?: boolean }) => {
      try {
        const home = resolveHome(opts.stateDir);
        // Loaded only here: every other command stays light (no SQLite, fastify, kysely at start-up).
        const { Daemon } = await import('../../daemon/daemon.js');
        const daemon = await Daemon.start({
          home,
          listen: parseListen(opts.listen, '--listen'),
          proxyListen: parseListen(opts.proxyListen, '--proxy-listen'),
          portFallback: opts.portFallback,
          version: version(),
        });
        say(`hangar daemon ${version()} (pid ${process.pid}): API ${daemon.apiUrl}, proxy ${daemon.proxyUrl}, state in ${home}`);
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
