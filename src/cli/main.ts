#!/usr/bin/env node
import { hostsCommand } from './commands/hosts.js';
import { Command } from 'commander';
import { appsCommand } from './commands/apps.js';
import { certsCommand } from './commands/certs.js';
import { configCommand } from './commands/config.js';
import { deployCommand } from './commands/deploy.js';
import { dashboardCommand } from './commands/dashboard.js';
import { deploymentsCommand } from './commands/deployments.js';
import { releasesCommand } from './commands/releases.js';
import { imagesCommand } from './commands/images.js';
import { launchCommand } from './commands/launch.js';
import { logsCommand } from './commands/logs.js';
import { machinesCommand } from './commands/machines.js';
import { scaleCommand } from './commands/scale.js';
import { secretsCommand } from './commands/secrets.js';
import { serverCommand } from './commands/server.js';
import { statusCommand } from './commands/status.js';
import { version } from './version.js';

/** The `hangar` command line. Each command lives in its own file under commands/. */
export function buildProgram(): Command {
  const program = new Command('hangar')
    .description('hangar: deploy and run apps on your own machines (fly.toml compatible)')
    .version(version())
    .showHelpAfterError('(run with --help for usage)')
    .enablePositionalOptions();
  for (const c of [serverCommand(), appsCommand(), launchCommand(), deployCommand(), releasesCommand(), deploymentsCommand(), machinesCommand(), scaleCommand(), statusCommand(), logsCommand(), imagesCommand(), secretsCommand(), certsCommand(), configCommand(), hostsCommand(), dashboardCommand()]) program.addCommand(c);
  return program;
}

await buildProgram().parseAsync(process.argv);
