import { Command } from 'commander';
import type { DeploymentView } from '../../api/contract.js';
import { UserError } from '../../core/errors.js';
import { action, action as action_, common, enc } from '../common.js';
import type { Context } from '../context.js';
import { ago, printJson, say, table } from '../output.js';
import { followDeployment } from '../render.js';
import { finishDeploy } from './deploy.js';

async function latest(ctx: Context, id?: string): Promise<DeploymentView> {
  if (id) return ctx.api.get<DeploymentView>(`/v1/deployments/${enc(id)}`);
  const list = await ctx.api.get<DeploymentView[]>(`/v1/apps/${enc(ctx.appName())}/deployments`);
  if (!list[0]) throw new UserError({ code: 'no_deployments', kind: 'not_found', message: `app ${ctx.appName()} has no deployments yet`, hint: 'deploy with: hangar deploy' });
  return list[0];
}

export function deploymentsCommand(): Command {
  const cmd = new Command('deployments').alias('deployment').description('list, inspect and re-attach to deploys').enablePositionalOptions();
  cmd.addCommand(
    common(new Command('list').alias('ls').description('deployments, newest first')).action(
      action(async (ctx) => {
        const list = await ctx.api.get<DeploymentView[]>(`/v1/apps/${enc(ctx.appName())}/deployments`);
        if (ctx.opts.json) return printJson(list);
        say(table(['ID', 'RELEASE', 'STRATEGY', 'STATUS', 'PHASE', 'MACHINES', 'STARTED'], list.map((d) => [d.id, `v${d.release}`, d.strategy, d.status, d.phase, d.machines.length, ago(d.created_at)])));
      }),
    ),
  );
  cmd.addCommand(
    common(new Command('status').argument('[id]', 'deployment id (default: the latest)').description('one deployment with each machine’s outcome')).action(
      action(async (ctx, id?: string) => {
        const d = await latest(ctx, id);
        if (ctx.opts.json) return printJson(d);
        say(`Deployment ${d.id}: release v${d.release}, ${d.strategy}, ${d.status}${d.paused ? ', paused' : ''} (phase ${d.phase})`);
        if (d.paused) say(`paused by the user; continue with: hangar deployments resume ${d.id}`);
        const waiting = d.machines.filter((m) => m.outcome === 'pending' || m.outcome === 'updating').length;
        if (d.status === 'running' && waiting > 0) say(`${waiting} of ${d.machines.length} machine(s) still run an older release`);
        if (d.error) say(`Error: ${d.error}`);
        say(table(['MACHINE', 'GROUP', 'REGION', 'OUTCOME', 'ERROR'], d.machines.map((m) => [m.id, m.group, m.region, m.outcome, m.error ?? ''])));
        const x = d.extra as { step?: number; weight?: number; canaries?: string[]; green?: string[]; cut?: boolean; decision?: { step: number; weight: number; verdict: string; reason: string; canary: { requests: number; errorRate: number; p95Ms: number | null }; stable: { requests: number; errorRate: number; p95Ms: number | null } } };
        if (d.strategy === 'canary' && x.canaries) {
          say('');
          say(`Canary: step ${(x.step ?? 0) + 1}, weights stable ${100 - (x.weight ?? 0)}% / canary ${x.weight ?? 0}%, canaries ${x.canaries.join(', ')}`);
          if (x.decision) {
            const f = (m: { requests: number; errorRate: number; p95Ms: number | null }) => `${m.requests} requests, error rate ${(m.errorRate * 100).toFixed(2)}%, p95 ${m.p95Ms?.toFixed(1) ?? '-'} ms`;
            say(`Last decision (step ${x.decision.step}, ${x.decision.weight}%): ${x.decision.verdict} — ${x.decision.reason}`);
            say(`  canary: ${f(x.decision.canary)}`);
            say(`  stable: ${f(x.decision.stable)}`);
          }
        }
        if (d.strategy === 'bluegreen' && x.green) say(`\nGreen: ${x.green.join(', ')}; cut over: ${Boolean(x.cut)}`);
      }),
    ),
  );
  cmd.addCommand(
    common(new Command('watch').argument('[id]', 'deployment id (default: the latest)').description('follow a deployment’s progress')).action(
      action(async (ctx, id?: string) => {
        const d = await latest(ctx, id);
        const status = await followDeployment(ctx, d.id);
        if (status && status !== 'complete') process.exitCode = 1;
      }),
    ),
  );
  for (const action of ['promote', 'abort', 'pause', 'resume'] as const) {
    cmd.addCommand(
      common(new Command(action).argument('<id>', 'deployment id').description(`${action} a running canary (or staged bluegreen) deploy`)).action(
        action_(async (ctx, id: string) => {
          const d = await ctx.api.post<DeploymentView>(`/v1/deployments/${enc(id)}/${action}`, {});
          if (ctx.opts.json) return printJson(d);
          say(`${action} sent to deployment ${d.id} (release v${d.release}, phase ${d.phase})`);
        }),
      ),
    );
  }
  cmd.addCommand(
    common(new Command('retry').argument('<id>', 'a failed deployment').description('retry the machines a failed deploy left failed'))
      .option('--machine <id>', 'retry only this machine')
      .option('--detach', 'return at once')
      .action(
        action(async (ctx, id: string) => {
          const o = ctx.opts as { machine?: string; detach?: boolean };
          const d = await ctx.api.post<DeploymentView>(`/v1/deployments/${enc(id)}/retry`, o.machine ? { machine: o.machine } : {});
          await finishDeploy(ctx, d, Boolean(o.detach));
        }),
      ),
  );
  return cmd;
}
