import { Command } from 'commander';
import type { AppView, MachineView, RoutingView } from '../../api/contract.js';
import { action, common, enc, machinesPath } from '../common.js';
import { ago, colorState, printJson, say, table, warn } from '../output.js';
import { staleSecrets } from './secrets.js';

export function statusCommand(): Command {
  return common(new Command('status').description('show the app, its URL and every machine')).action(
    action(async (ctx) => {
      const app = ctx.appName();
      const [info, machines, routing] = await Promise.all([
        ctx.api.get<AppView>(`/v1/apps/${enc(app)}`),
        ctx.api.get<MachineView[]>(machinesPath(app)),
        ctx.api.get<RoutingView>(`/v1/apps/${enc(app)}/routing`),
      ]);
      const secrets = await staleSecrets(ctx, app, machines);
      if (ctx.opts.json) return printJson({ ...info, machines, secrets_digest: secrets.digest, stale_secrets: [...secrets.stale], ports: routing.ports, ports_failed: routing.ports_failed });
      say(`App       ${info.name}`);
      say(`Hostname  ${info.hostname}`);
      if (info.url) say(`URL       ${info.url}`);
      if (routing.ports.length) say(`Ports     ${routing.ports.join(', ')}`);
      for (const f of routing.ports_failed) warn(`dedicated port ${f.port} is not open: ${f.error}; free it, then restart the daemon or set the ports again (PATCH /v1/apps/${app}/routing)`);
      say(`Machines  ${machines.length}`);
      if (machines.length === 0) return;
      const versions = [...new Set(machines.map((m) => m.release_version ?? 'none'))];
      if (versions.length > 1) {
        const newest = Math.max(...machines.map((m) => m.release_version ?? 0));
        const older = machines.filter((m) => (m.release_version ?? 0) < newest).length;
        warn(`this app runs ${versions.length} releases at once: ${versions.map((v) => (v === 'none' ? 'no release' : `v${v}`)).join(', ')}; ${older} of ${machines.length} machine(s) still run an older release than v${newest}`);
      }
      if (secrets.stale.size) warn(`${secrets.stale.size} machine(s) run with outdated secrets (SECRETS stale); roll the current ones out with: hangar deploy`);
      say('');
      say(
        table(
          ['PROCESS', 'ID', 'VERSION', 'REGION', 'HOST', 'STATE', 'CHECKS', 'INFLIGHT', 'RUNTIME', 'IMAGE', 'ADDRESS', 'UPDATED', 'SECRETS'],
          machines.map((m) => {
            const passing = m.checks.filter((c) => c.status === 'passing').length;
            return [
              m.process_group,
              m.id,
              m.release_version ? `v${m.release_version}` : '',
              m.region,
              m.host + (m.host_status === 'unreachable' ? ' (unreachable)' : ''),
              colorState(m.state) + (m.cordoned ? ' (cordoned)' : ''),
              m.checks.length ? `${m.checks.length} total, ${passing} passing` : '',
              m.inflight,
              m.runtime,
              `${m.image_ref.repository}:${m.image_ref.tag}`,
              m.address ?? '',
              ago(m.updated_at),
              secrets.stale.has(m.id) ? 'stale' : '',
            ];
          }),
        ),
      );
    }),
  );
}
