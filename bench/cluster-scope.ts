/**
 * What bench:cluster hands the test harness in place of a node:test context: a scope that collects
 * cleanups and runs them in reverse (the last resource made is the first removed), once, whether the
 * run succeeded, failed or was interrupted. It also tracks the CLI processes the bench starts, so
 * those are killed (by pid) before anything else goes.
 */
import type { ChildProcess } from 'node:child_process';
import { BIN, ROOT } from '../test/helpers.js';
import { runCli, type CliRun } from './cli-run.js';
import type { ClusterNode } from '../test/cluster/cluster.js';

/** A CLI run; its times are performance.now(). */
export type { CliRun };

export class Scope {
  private readonly fns: Array<() => unknown> = [];
  private readonly children = new Set<ChildProcess>();
  private running?: Promise<void>;

  /** Whether cleanup has begun (nothing new should start then). */
  get closing(): boolean {
    return this.running !== undefined;
  }

  /** Registers a cleanup; one registered while cleanup runs is run too. */
  after(fn: () => unknown): void {
    this.fns.push(fn);
  }

  /** A scope whose cleanups run when it is closed early, or else with this one's. */
  child(): Scope {
    const s = new Scope();
    this.after(() => s.close());
    return s;
  }

  /** Kills tracked CLI processes, then runs every cleanup in reverse order; errors are printed, not thrown. */
  close(): Promise<void> {
    this.running ??= (async () => {
      for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      for (let fn = this.fns.pop(); fn; fn = this.fns.pop()) {
        try {
          await fn();
        } catch (err) {
          console.error(`cleanup: ${(err as Error).message}`);
        }
      }
    })();
    return this.running;
  }

  /** Runs the hangar CLI against a node (its URL and token), without blocking; SIGKILLed after `timeoutMs`. */
  cli(node: ClusterNode, args: string[], timeoutMs: number): Promise<CliRun> {
    if (this.closing) return Promise.reject(new Error('the bench is stopping'));
    const env: NodeJS.ProcessEnv = { ...process.env, HANGAR_API_URL: node.url, HANGAR_API_TOKEN: node.token, HANGAR_HOME: node.home };
    return runCli({ bin: BIN, cwd: ROOT, env, args, timeoutMs, children: this.children, clock: () => performance.now() });
  }
}

/** Calls `fn` every `everyMs` until it returns a value other than undefined; throws after `ms`. */
export async function until<T>(ms: number, what: string, fn: () => T | undefined | Promise<T | undefined>, everyMs = 50): Promise<T> {
  const end = performance.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (performance.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
