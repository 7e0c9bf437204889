import { spawn, type ChildProcess } from 'node:child_process';

/** One run of the hangar CLI, with when it was spawned and when it exited (on the caller's clock). */
export interface CliRun {
  status: number;
  stdout: string;
  stderr: string;
  startedAt: number;
  endedAt: number;
}

/**
 * Runs the hangar CLI without blocking the event loop (the benchmarks' load generators share it),
 * tracked in `children` while it runs so a stopping bench can kill it; SIGKILLed after `timeoutMs`.
 */
export function runCli(o: { bin: string; cwd: string; env: NodeJS.ProcessEnv; args: string[]; timeoutMs: number; children: Set<ChildProcess>; clock: () => number }): Promise<CliRun> {
  return new Promise((resolve) => {
    const startedAt = o.clock();
    const p = spawn(process.execPath, [o.bin, ...o.args], { env: o.env, cwd: o.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    o.children.add(p);
    let stdout = '';
    let stderr = '';
    p.stdout!.on('data', (c) => (stdout += c));
    p.stderr!.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => p.kill('SIGKILL'), o.timeoutMs);
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      o.children.delete(p);
      resolve({ status: code ?? -1, stdout, stderr: stderr + (signal ? `\n(killed by ${signal})` : ''), startedAt, endedAt: o.clock() });
    });
  });
}
