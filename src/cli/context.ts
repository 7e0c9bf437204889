import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { UserError } from '../core/errors.js';
import { findConfigFile, loadConfig, type LoadedConfig } from '../config/index.js';
import { ApiClient } from './client.js';
import { warn } from './output.js';

/** Global flags every command sees. */
export interface GlobalOpts {
  app?: string;
  config?: string;
  json?: boolean;
  debug?: boolean;
}

/**
 * The app named on the command line or in the environment: `-a`, else `HANGAR_APP`, else `FLY_APP`
 * (the variable flyctl reads). It wins over the config's `app`, and fills in a missing or placeholder one.
 */
export function appOverride(opts: Pick<GlobalOpts, 'app'>, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const candidate of [opts.app, env.HANGAR_APP, env.FLY_APP]) {
    if (candidate?.trim()) return candidate.trim();
  }
  return undefined;
}

/**
 * What a command works with: the API client, the app it targets (`-a` / env, else the config's `app`),
 * and the config file (`-c`, else hangar.toml / fly.toml in the current directory), loaded lazily.
 */
export class Context {
  readonly api = new ApiClient();
  /** Loaded configs by file (null: the directory has none), so each file's warnings print once. */
  private readonly loaded = new Map<string, LoadedConfig | null>();

  constructor(readonly opts: GlobalOpts) {}

  /** The config, if there is one (`-c` must exist; the current directory's is optional). */
  config(dir?: string): LoadedConfig | undefined {
    const where = dir ? resolve(dir) : process.cwd();
    const path = this.opts.config ? resolve(this.opts.config) : findConfigFile(where);
    const key = path ?? `dir:${where}`;
    if (this.loaded.has(key)) return this.loaded.get(key) ?? undefined;
    const loaded = path ? loadConfig(path, { app: appOverride(this.opts) }) : null;
    for (const w of loaded?.warnings ?? []) warn(`${w.path}: ${w.message}`);
    this.loaded.set(key, loaded);
    return loaded ?? undefined;
  }

  appName(dir?: string): string {
    const override = appOverride(this.opts);
    if (override) return override;
    const cfg = this.config(dir);
    if (cfg) return cfg.config.app;
    throw new UserError({ code: 'no_app', message: 'no app given and no hangar.toml or fly.toml here', hint: 'pass -a APP, or run from the app directory, or pass -c path/to/hangar.toml' });
  }
}

export function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

export function looksLikePath(arg: string): boolean {
  return arg === '.' || arg.startsWith('./') || arg.startsWith('../') || arg.startsWith('/') || arg.startsWith('~') || existsSync(arg);
}

export function configDirOf(loaded: LoadedConfig | undefined): string | undefined {
  return loaded ? dirname(loaded.path) : undefined;
}
