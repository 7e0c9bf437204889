import { resolve } from 'node:path';
import type { AppView, MachineView } from '../../api/contract.js';
import { machineConfigFor, processGroups, type AppConfig } from '../../config/index.js';
import { UserError } from '../../core/errors.js';
import type { MachineConfig } from '../../core/types.js';
import { enc, machinesPath, parseEnvPairs } from '../common.js';
import { appOverride, isDirectory, looksLikePath, type Context } from '../context.js';
import { printJson, say } from '../output.js';
import { uploadDirectory } from '../upload.js';

interface RunOpts {
  region?: string;
  host?: string;
  processGroup?: string;
  name?: string;
  env?: string[];
  skipStart?: boolean;
}

/** `hangar machines run [DIR|IMAGE] [-- CMD…]`: like `fly machine run`, creating the app when it is new. */
export async function runMachine(ctx: Context, target: string | undefined, command: string[]): Promise<void> {
  const o = ctx.opts as RunOpts;
  const explicitDir = target !== undefined && isDirectory(target) ? resolve(target) : undefined;
  if (target !== undefined && !explicitDir && looksLikePath(target)) {
    throw new UserError({ code: 'image_source_missing', message: `directory ${target} does not exist`, hint: 'pass an existing app directory, or an image ref such as hello:run-01J…' });
  }
  const dir = explicitDir ?? (target === undefined ? resolve(ctx.opts.config ? resolve(ctx.opts.config, '..') : '.') : undefined);
  const loaded = ctx.config(dir);
  const app = loaded?.config.app ?? appOverride(ctx.opts);
  if (!app) throw new UserError({ code: 'no_app', message: 'no app given and the directory has no hangar.toml or fly.toml', hint: 'pass -a APP' });
  const appInfo = await ensureApp(ctx, app);

  if (loaded) await applyRouting(ctx, app, loaded.config);
  const image = dir ? (await uploadDirectory(ctx, app, dir)).ref : target!;
  const env = parseEnvPairs(o.env);
  let config: MachineConfig;
  if (loaded) {
    const groups = processGroups(loaded.config);
    const group = o.processGroup ?? groups[0]!;
    config = machineConfigFor(loaded.config, { group, image, env });
    config.metadata = { ...config.metadata, primary_region: loaded.config.primaryRegion };
  } else {
    if (o.processGroup) throw new UserError({ code: 'unknown_process_group', message: `--process-group ${o.processGroup} needs a hangar.toml with [processes]`, hint: 'drop --process-group, or run from the app directory' });
    config = { image, env, init: {}, services: [], checks: {}, restart: { policy: 'on-failure' }, stop_config: { signal: 'SIGINT', timeout: '5s' }, metadata: { fly_process_group: 'app' } };
  }
  if (command.length > 0) config.init = { cmd: command };
  // Pinned to a host, the machine goes to that host's region unless one is asked for.
  const region = o.region ?? (o.host ? undefined : loaded?.config.primaryRegion);
  const m = await ctx.api.post<MachineView>(machinesPath(app), { config, ...(region ? { region } : {}), ...(o.host ? { host: o.host } : {}), ...(o.name ? { name: o.name } : {}), ...(o.skipStart ? { skip_launch: true } : {}) });
  if (ctx.opts.json) return printJson(m);
  say(`Machine ${m.id} (${m.name}) in app ${app}, region ${m.region}, host ${m.host}: ${m.state}`);
  say(`  image   ${m.config.image}`);
  if (m.address) say(`  address http://${m.address}`);
  if (appInfo.url) say(`  url     ${appInfo.url}  (through hangar's proxy, once the machine passes its checks)`);
}

export async function ensureApp(ctx: Context, app: string): Promise<AppView> {
  try {
    return await ctx.api.get<AppView>(`/v1/apps/${enc(app)}`);
  } catch (err) {
    if (!(err instanceof UserError) || err.kind !== 'not_found') throw err;
    const created = await ctx.api.post<AppView>('/v1/apps', { app_name: app });
    if (!ctx.opts.json) say(`Created app ${app}`);
    return created;
  }
}

/** The proxy settings a config carries: extra hostnames, the hold window and dedicated ports. */
export async function applyRouting(ctx: Context, app: string, cfg: AppConfig): Promise<void> {
  const http = cfg.httpService;
  const dedicated = cfg.services.flatMap((s) => s.ports).filter((p) => p.port !== undefined && p.port !== 80 && p.port !== 443);
  const ports = dedicated.map((p) => p.port!);
  const tlsPorts = dedicated.filter((p) => p.handlers.includes('tls')).map((p) => p.port!);
  // Fly's force_https sits on the port 80 entry (or on [http_service]).
  const forceHttps = (http?.forceHttps ?? false) || cfg.services.some((s) => s.ports.some((p) => p.port === 80 && p.forceHttps));
  await ctx.api.json('PATCH', `/v1/apps/${enc(app)}/routing`, {
    hostnames: http?.hostnames ?? null,
    hold_timeout: http?.holdTimeoutMs !== undefined ? `${http.holdTimeoutMs}ms` : null,
    idle_timeout: http?.idleTimeoutMs !== undefined ? `${http.idleTimeoutMs}ms` : null,
    ports: ports.length ? [...new Set(ports)] : null,
    tls_ports: tlsPorts.length ? [...new Set(tlsPorts)] : null,
    force_https: forceHttps || null,
  });
}
