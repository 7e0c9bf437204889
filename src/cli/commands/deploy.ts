import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { Command } from 'commander';
import { ulid } from 'ulid';
import { REGISTRY_AUTH_HEADER, type DeploymentView, type PushEvent } from '../../api/contract.js';
import type { BuildConfig } from '../../config/index.js';
import { registryOf } from '../../runtime/docker/distribution.js';
import { encodeRegistryAuth, registryAuthFor } from '../../runtime/docker/registry-auth.js';
import { ndjsonLines } from '../client.js';
import { UserError } from '../../core/errors.js';
import { buildImage } from '../build.js';
import { hasRoutingChecks } from '../../config/index.js';
import { action, collect, common, enc, parseEnvPairs } from '../common.js';
import type { Context } from '../context.js';
import { printJson, say, warn } from '../output.js';
import { followDeployment } from '../render.js';
import { applyRouting, ensureApp } from './machines-run.js';

interface DeployFlags {
  image?: string;
  buildOnly?: boolean;
  push?: boolean;
  env?: string[];
  strategy?: string;
  maxUnavailable?: string;
  waitTimeout?: string;
  releaseCommandTimeout?: string;
  skipReleaseCommand?: boolean;
  detach?: boolean;
  onlyMachines?: string;
  excludeMachines?: string;
  regions?: string;
  onlyRegions?: string;
  excludeRegions?: string;
  processGroups?: string;
  maxFailures?: string;
  autoRollback?: boolean;
  cutover?: boolean;
  notify?: string;
  rotateDeadline?: string;
  rotateIdle?: string;
}

export function deployCommand(): Command {
  return common(new Command('deploy').description('build the app directory into an image and deploy it (runs in the daemon)'))
    .argument('[dir]', 'app directory (default: the config file’s directory, else .)')
    .option('-i, --image <ref>', 'deploy an existing image with the current config: an earlier build (deployment-…) or a Docker image (nginx:1.25, ghcr.io/org/app:v1)')
    .option('--build-only', 'build the image, print its ref, and stop')
    .option('--push', 'push a Dockerfile build to [build] registry (credentials from your Docker config); process images always live in the daemon’s store')
    .option('-e, --env <K=V>', 'environment variable for this release (repeatable)', collect)
    .option('--strategy <name>', 'rolling (default), immediate, bluegreen, canary, rotate')
    .option('--max-unavailable <n>', 'machines updated at once: a count ≥ 1 or a fraction < 1 (default 0.33)')
    .option('--wait-timeout <duration>', 'how long a machine may take to pass its checks (default 5m)')
    .option('--release-command-timeout <duration>', 'kill the release command after this (default 5m)')
    .option('--skip-release-command', 'do not run [deploy] release_command')
    .option('--detach', 'return at once; the deploy runs in the daemon')
    .option('--only-machines <ids>', 'comma-separated machine ids to update')
    .option('--exclude-machines <ids>', 'comma-separated machine ids to leave alone')
    .option('--regions <regions>', 'only machines in these regions (comma-separated)')
    .option('--only-regions <regions>', 'alias of --regions')
    .option('--exclude-regions <regions>', 'leave machines in these regions alone')
    .option('--process-groups <groups>', 'only these process groups (comma-separated)')
    .option('--max-failures <n>', 'failed machines tolerated before the rollout stops (default 0)')
    .option('--no-auto-rollback', 'keep updated machines on the new release when the deploy fails')
    .option('--rotate-deadline <duration>', 'rotate: after this, busy machines are drained (kill_timeout) and updated anyway')
    .option('--rotate-idle <duration>', 'rotate: a machine with no request in flight this long is idle and gets updated (default 10s)')
    .option('--notify <url>', 'POST the deploy’s start and outcome to this http(s) webhook (in addition to [[deploy.notify]])')
    .option('--no-cutover', 'bluegreen: stop once green is healthy; switch with hangar deployments promote ID')
    .action(action(deploy));
}

const list = (v?: string) => (v ? v.split(',').map((x) => x.trim()).filter(Boolean) : undefined);

async function deploy(ctx: Context, dirArg: string | undefined): Promise<void> {
  const f = ctx.opts as DeployFlags;
  const dir = resolve(dirArg ?? (ctx.opts.config ? dirname(resolve(ctx.opts.config)) : '.'));
  const loaded = ctx.config(dir);
  if (!loaded) throw new UserError({ code: 'config_not_found', message: `no hangar.toml or fly.toml in ${dir}`, hint: 'run from the app directory, pass the directory, or -c path/to/hangar.toml' });
  // The loaded config already carries -a / HANGAR_APP / FLY_APP over the file's name.
  const app = loaded.config.app;
  const strategy = f.strategy ?? loaded.config.deploy.strategy;
  if (strategy === 'bluegreen' && !hasRoutingChecks(loaded.config)) {
    // Said before anything is built or created.
    throw new UserError({ code: 'bluegreen_needs_checks', message: 'the bluegreen strategy needs at least one health check that gates routing', hint: 'add [[http_service.checks]] (or [[services.http_checks]] / [[services.tcp_checks]]) to hangar.toml' });
  }
  const source = sourceOf(dir, loaded.config.build, f.image);
  if (f.push && source.kind === 'docker' && !loaded.config.build.registry) {
    throw new UserError({ code: 'push_no_registry', message: '--push needs a registry to push to', hint: 'name one in hangar.toml: [build] registry = "ghcr.io/myorg" (or "127.0.0.1:5000")' });
  }
  await ensureApp(ctx, app);
  await applyRouting(ctx, app, loaded.config);
  let image: string;
  if (source.kind === 'image') {
    image = source.ref;
    if (!ctx.opts.json && !f.image) say(`==> Using image ${image} ([build] image)`);
  } else {
    image = await build(ctx, app, dir, loaded.config.build, source.kind === 'docker' ? source.dockerfile : undefined);
    if (f.push && source.kind === 'docker') await push(ctx, app, image);
    else if (f.push && !ctx.opts.json) say('==> Nothing to push: a directory without a Dockerfile runs as processes, and its images live in the daemon’s store');
  }
  if (f.buildOnly) {
    if (ctx.opts.json) return printJson({ image });
    say(`image: ${image}`);
    return;
  }
  const body = {
    image,
    config_text: readFileSync(loaded.path, 'utf8'),
    config_path: basename(loaded.path),
    ...(f.strategy ? { strategy: f.strategy } : {}),
    ...(f.maxUnavailable ? { max_unavailable: Number(f.maxUnavailable) } : {}),
    ...(f.waitTimeout ? { wait_timeout: /^\d+$/.test(f.waitTimeout) ? Number(f.waitTimeout) : f.waitTimeout } : {}),
    ...(f.releaseCommandTimeout ? { release_command_timeout: f.releaseCommandTimeout } : {}),
    ...(f.skipReleaseCommand ? { skip_release_command: true } : {}),
    ...(f.maxFailures ? { max_failures: Number(f.maxFailures) } : {}),
    ...(f.autoRollback === false ? { auto_rollback: false } : {}),
    ...(f.cutover === false ? { no_cutover: true } : {}),
    ...(f.notify ? { notify: f.notify } : {}),
    ...(f.rotateDeadline ? { rotate_deadline: f.rotateDeadline } : {}),
    ...(f.rotateIdle ? { rotate_idle: f.rotateIdle } : {}),
    env: parseEnvPairs(f.env),
    only_machines: list(f.onlyMachines),
    exclude_machines: list(f.excludeMachines),
    regions: list(f.regions ?? f.onlyRegions),
    exclude_regions: list(f.excludeRegions),
    process_groups: list(f.processGroups),
    user: process.env.USER ?? 'local',
  };
  const d = await ctx.api.post<DeploymentView>(`/v1/apps/${enc(app)}/deployments`, body);
  await finishDeploy(ctx, d, Boolean(f.detach));
}

/** Prints where the deploy runs, follows it unless detached, and sets the exit code from its outcome. */
export async function finishDeploy(ctx: Context, d: DeploymentView, detach: boolean): Promise<void> {
  if (detach) {
    if (ctx.opts.json) return printJson(d);
    say(`Deployment ${d.id} (release v${d.release}) is running in the daemon. Watch it with: hangar deployments watch ${d.id}`);
    return;
  }
  if (!ctx.opts.json) say(`Deployment ${d.id}: release v${d.release} (${d.strategy}). Ctrl-C detaches; the deploy keeps running.`);
  const status = await followDeployment(ctx, d.id, d.events_from ?? 0);
  if (status && status !== 'complete') process.exitCode = 1;
}

/** Where the release's image comes from: given, built by the Docker Engine, or built as a process image. */
type Source = { kind: 'image'; ref: string } | { kind: 'docker'; dockerfile: string } | { kind: 'process' };

/**
 * `--image`, then `[build] image`, then a Dockerfile (`[build] dockerfile`, or `Dockerfile` in the
 * directory) built with Docker; a directory without one runs as processes.
 */
function sourceOf(dir: string, build: BuildConfig, image: string | undefined): Source {
  if (image) return { kind: 'image', ref: image };
  if (build.image) return { kind: 'image', ref: build.image };
  if (build.dockerfile) {
    if (!existsSync(resolve(dir, build.dockerfile))) {
      throw new UserError({ code: 'dockerfile_not_found', message: `[build] dockerfile names ${build.dockerfile}, which is not in ${dir}`, hint: 'give its path relative to the app directory, or remove the key to run the app as processes' });
    }
    return { kind: 'docker', dockerfile: build.dockerfile };
  }
  return existsSync(join(dir, 'Dockerfile')) ? { kind: 'docker', dockerfile: 'Dockerfile' } : { kind: 'process' };
}

async function build(ctx: Context, app: string, dir: string, cfg: BuildConfig, dockerfile: string | undefined): Promise<string> {
  const how = dockerfile ? ` with Docker (${dockerfile})` : cfg.command ? ` (build command: ${cfg.command})` : '';
  if (!ctx.opts.json) say(`==> Building image from ${dir}${how}`);
  if (dockerfile && cfg.command) warn('[build] command is ignored for a Dockerfile build: put the step in the Dockerfile (RUN …)');
  const img = await buildImage(ctx, app, dir, {
    command: cfg.command,
    tag: `deployment-${ulid()}`,
    docker: dockerfile ? { dockerfile, target: cfg.buildTarget, args: cfg.args, registry: cfg.registry } : undefined,
    onOutput: (_stream, line) => {
      if (!ctx.opts.json) say(`  build | ${line}`);
    },
  });
  if (!ctx.opts.json) say(`==> Image ${img.ref} (${img.digest.slice(0, 19)}…)`);
  return img.ref;
}

/** Pushes a Docker build to its registry, with the credentials `docker login` stored for it. */
async function push(ctx: Context, app: string, ref: string): Promise<void> {
  if (!ctx.opts.json) say(`==> Pushing ${ref}`);
  const auth = encodeRegistryAuth(await registryAuthFor(registryOf(ref)));
  const res = await ctx.api.request('POST', `/v1/apps/${enc(app)}/images/${enc(ref)}/push`, { headers: { [REGISTRY_AUTH_HEADER]: auth } });
  for await (const line of ndjsonLines(res)) {
    const e = JSON.parse(line) as PushEvent;
    if (e.type === 'output' && !ctx.opts.json) say(`  push | ${e.line}`);
    if (e.type === 'error') throw ctx.api.streamError(e.error);
    if (e.type === 'pushed') {
      if (!ctx.opts.json) say(`==> Pushed ${e.ref} (${e.digest})`);
      return;
    }
  }
  throw new UserError({ code: 'push_stream_broken', kind: 'unavailable', message: 'the daemon stopped answering during the push', hint: 'check the daemon log ($HANGAR_HOME/daemon.log) and push again' });
}
