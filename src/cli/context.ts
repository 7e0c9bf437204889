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
 * What a command works with: the API client, the app it targets (`-a`, else the config's `app`), and the
 * config file (`-c`, else hangar.toml / fly.toml in the current directory), loaded lazily.
 */
export class Context {
  readonly api = new ApiClient();
  private loaded?: LoadedConfig | null;

  constructor(readonly opts: GlobalOpts) {}

  /** The config, if there is one (`-c` must exist; the current directory's is optional). */
  config(dir?: string): LoadedConfig | undefined {
    if (this.loaded !== undefined && !dir) return this.loaded ?? undefined;
    let path: string | undefined;
    if (this.opts.config) path = resolve(this.opts.config);
    else path = findConfigFile(dir ? resolve(dir) : process.cwd());
    if (!path) {
      if (!dir) this.loaded = null;
      return undefined;
    }
    const loaded = loadConfig(path);
    for (const w of loaded.warnings) warn(`${w.path}: ${w.message}`);
    if (!dir) this.loaded = loaded;
    return loaded;
  }

  appName(dir?: string): string {
    if (this.opts.app) return this.opts.app;
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
