/**
 * Finding (and, as root with apt-get, installing from Debian) the external programs bench:proxy uses:
 * wrk for load, nginx/haproxy/caddy as peers. A program that stays missing is reported with the reason,
 * never silently dropped.
 */
import { spawnSync } from 'node:child_process';

export const TOOLS = ['wrk', 'nginx', 'haproxy', 'caddy'] as const;
export type Tool = (typeof TOOLS)[number];

export type ToolStatus = { ok: true; path: string; version: string; installed: boolean } | { ok: false; reason: string };

/** Each Debian package ships the binary of the same name. */
const VERSION_ARGS: Record<Tool, string[]> = { wrk: ['-v'], nginx: ['-v'], haproxy: ['-v'], caddy: ['version'] };

export function which(bin: string): string | undefined {
  const r = spawnSync('/bin/sh', ['-c', `command -v ${bin}`], { encoding: 'utf8', env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin` } });
  const p = r.stdout.trim();
  return r.status === 0 && p ? p : undefined;
}

/**
 * Locates every tool; installs the missing ones with apt-get when allowed (root, apt-get present,
 * BENCH_NO_INSTALL unset). `apt-get update` runs only after a failed install.
 */
export function ensureTools(log: (line: string) => void): Record<Tool, ToolStatus> {
  const missing = TOOLS.filter((t) => !which(t));
  let why = new Map<Tool, string>();
  if (missing.length) {
    const blocker = installBlocker();
    if (blocker) for (const t of missing) why.set(t, `not installed; ${blocker}`);
    else why = aptInstall(missing, log);
  }
  const out = {} as Record<Tool, ToolStatus>;
  for (const t of TOOLS) {
    const path = which(t);
    out[t] = path ? { ok: true, path, version: versionOf(path, t), installed: missing.includes(t) } : { ok: false, reason: why.get(t) ?? 'not installed' };
  }
  return out;
}

function installBlocker(): string | undefined {
  if (process.env.BENCH_NO_INSTALL === '1') return 'BENCH_NO_INSTALL=1 forbids installing';
  if (process.getuid?.() !== 0) return 'not running as root, so cannot apt-get install';
  if (!which('apt-get')) return 'no apt-get on this host';
  return undefined;
}

/** Returns, for each tool still missing afterwards, why. */
function aptInstall(pkgs: Tool[], log: (line: string) => void): Map<Tool, string> {
  const why = new Map<Tool, string>();
  log(`installing from Debian: apt-get install -y ${pkgs.join(' ')}`);
  if (apt(['install', '-y', ...pkgs]).ok) return why;
  log('apt-get install failed; running apt-get update and retrying one package at a time');
  const update = apt(['update']);
  if (!update.ok) log(`apt-get update failed: ${update.tail}`);
  for (const p of pkgs) {
    const r = apt(['install', '-y', p]);
    if (!r.ok) why.set(p, `apt-get install -y ${p} failed: ${r.tail}`);
  }
  return why;
}

function apt(args: string[]): { ok: boolean; tail: string } {
  const r = spawnSync('apt-get', args, { encoding: 'utf8', timeout: 600_000, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  const text = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-3).join(' | ');
  return { ok: r.status === 0, tail: r.error ? r.error.message : text };
}

function versionOf(path: string, t: Tool): string {
  const r = spawnSync(path, VERSION_ARGS[t], { encoding: 'utf8', timeout: 10_000 });
  const text = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim();
  return text.split('\n')[0]?.trim() ?? '';
}
