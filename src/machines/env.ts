import type { Machine } from '../core/types.js';
import { formatImageRef } from '../core/types.js';

/** Host variables a process needs to find its tools; nothing else of the daemon's env leaks in. */
const PASSED_THROUGH = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR'];

/**
 * A machine's environment: [env] from its config, then the app's secrets, then the variables Fly sets (so apps written for Fly
 * run unchanged) and their HANGAR_* twins. Platform variables win over [env] so they can't be spoofed.
 */
export function machineEnv(m: Machine, port: number, secrets: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  // A container's PATH and HOME come from its image; the host's would only break it.
  if (m.runtime === 'process') for (const k of PASSED_THROUGH) if (process.env[k] !== undefined) env[k] = process.env[k]!;
  Object.assign(env, m.config.env, secrets);
  const group = m.config.metadata.fly_process_group ?? 'app';
  const platform: Record<string, string> = {
    APP_NAME: m.appName,
    MACHINE_ID: m.id,
    ALLOC_ID: m.id,
    REGION: m.region,
    PROCESS_GROUP: group,
    IMAGE_REF: formatImageRef(m.imageRef),
    MACHINE_VERSION: m.instanceId,
    PRIVATE_IP: '127.0.0.1',
  };
  for (const [k, v] of Object.entries(platform)) {
    env[`FLY_${k}`] = v;
    env[`HANGAR_${k}`] = v;
  }
  env.PRIMARY_REGION = m.config.metadata.primary_region ?? m.config.env.PRIMARY_REGION ?? m.region;
  env.PORT = String(publishedPort(m) ?? port);
  return env;
}

/** The container port a `published` Docker machine listens on: its first service's internal_port. */
export function publishedPort(m: Pick<Machine, 'runtime' | 'config'>): number | undefined {
  if (m.runtime !== 'docker' || m.config.network !== 'published') return undefined;
  return m.config.services[0]?.internal_port ?? 8080;
}
