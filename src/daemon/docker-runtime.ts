import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from 'pino';
import { DockerDriver } from '../runtime/docker/docker-driver.js';
import { EngineClient, engineEndpoint } from '../runtime/docker/engine.js';
import { DockerImages } from '../runtime/docker/images.js';
import { pullImage, registryOf } from '../runtime/docker/distribution.js';
import { encodeRegistryAuth, registryAuthFor } from '../runtime/docker/registry-auth.js';

/**
 * The Docker runtime as this daemon's environment configures it: DOCKER_HOST (or the default socket),
 * HANGAR_DOCKER_PULL (`missing`, the default, or `never`). Nothing is asked of the engine here: a
 * daemon starts without one, and Docker machines wait for it.
 */
export function dockerRuntime(home: string, log: Logger): { engine?: EngineClient; driver?: DockerDriver; images?: DockerImages; problem?: Error } {
  let engine: EngineClient;
  try {
    engine = new EngineClient(engineEndpoint());
  } catch (err) {
    log.warn({ err }, 'Docker runtime disabled');
    return { problem: err as Error };
  }
  const pull = process.env.HANGAR_DOCKER_PULL === 'never' ? 'never' : 'missing';
  return {
    engine,
    driver: new DockerDriver({ root: join(home, 'containers'), engine }),
    images: new DockerImages(engine, {
      pull,
      // With the credentials of the user the daemon runs as, as `docker pull` would use them.
      pullImage: async (ref) => {
        const auth = encodeRegistryAuth(await registryAuthFor(registryOf(ref)));
        log.info({ ref }, 'pulling image');
        await pullImage(engine, ref, { auth });
      },
    }),
  };
}

/** Pings the engine every 500 ms until it answers (true), `timeoutMs` passes or `signal` aborts (false). */
export async function waitForEngine(engine: EngineClient, timeoutMs: number, signal: AbortSignal): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (!signal.aborted && Date.now() < until) {
    if (await engine.ping(1000)) return true;
    await delay(500, undefined, { signal, ref: false }).catch(() => undefined);
  }
  return false;
}
