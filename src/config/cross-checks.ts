/**
 * Rules that need the whole file rather than one table: every `processes` reference must name a
 * declared group, `[checks.*]` ports fall back to `[http_service]`, and per-group `[[restart]]` /
 * `[[vm]]` rules must not contradict each other. They run after the schema passes, because they need
 * typed values to compare.
 */
import type { ErrorDetail } from '../core/errors.js';
import { didYouMean } from './diagnostics.js';
import type { ParsedConfig } from './schema.js';
import { processGroups, type AppConfig, type AutoStopMode, type ConfigWarning, type NamedCheck } from './types.js';

export interface CrossCheckResult {
  config: AppConfig;
  details: ErrorDetail[];
  warnings: ConfigWarning[];
}

export function crossCheck(parsed: ParsedConfig): CrossCheckResult {
  const details: ErrorDetail[] = [];
  const warnings: ConfigWarning[] = [];
  checkGroupReferences(parsed, details);
  checkOverlaps('restart', parsed.restart, details);
  checkOverlaps('vm', parsed.vm, details);
  const checks = resolveCheckPorts(parsed, details);
  warnSuspend('http_service', parsed.httpService?.autoStopMachines, warnings);
  parsed.services.forEach((s, i) => warnSuspend(`services[${i}]`, s.autoStopMachines, warnings));
  warnUnusedExperimental(parsed, warnings);
  return { config: { ...parsed, checks }, details, warnings };
}

/** Every place a `processes` list may appear, with its path for error messages. */
function groupReferences(cfg: ParsedConfig): Array<{ path: string; groups?: readonly string[] }> {
  return [
    { path: 'http_service.processes', groups: cfg.httpService?.processes },
    ...cfg.services.map((s, i) => ({ path: `services[${i}].processes`, groups: s.processes })),
    ...Object.entries(cfg.checks).map(([name, c]) => ({ path: `checks.${name}.processes`, groups: c.processes })),
    ...cfg.restart.map((r, i) => ({ path: `restart[${i}].processes`, groups: r.processes })),
    ...cfg.vm.map((v, i) => ({ path: `vm[${i}].processes`, groups: v.processes })),
  ];
}

function checkGroupReferences(cfg: ParsedConfig, details: ErrorDetail[]): void {
  const known = processGroups(cfg);
  for (const ref of groupReferences(cfg)) {
    ref.groups?.forEach((group, i) => {
      if (known.includes(group)) return;
      const guess = didYouMean(group, known);
      const message =
        `unknown process group "${group}"${guess ? ` (did you mean "${guess}"?)` : ''}; ` +
        `[processes] defines ${known.map((g) => `"${g}"`).join(', ')}`;
      details.push({ path: `${ref.path}[${i}]`, message, value: group });
    });
  }
}

/**
 * A group may be named by at most one rule, and at most one rule may omit `processes` (it then
 * covers the remaining groups). Otherwise which rule wins would depend on file order, silently.
 */
function checkOverlaps(
  section: 'restart' | 'vm',
  rules: ReadonlyArray<{ processes?: readonly string[] }>,
  details: ErrorDetail[],
): void {
  const claimedBy = new Map<string, number>();
  rules.forEach((rule, i) => {
    for (const group of rule.processes ?? ['*']) {
      const first = claimedBy.get(group);
      if (first === undefined) {
        claimedBy.set(group, i);
        continue;
      }
      const what = group === '*' ? 'also applies to every group' : `also applies to process group "${group}"`;
      details.push({ path: `${section}[${i}].processes`, message: `${what}, like ${section}[${first}]` });
    }
  });
}

function resolveCheckPorts(cfg: ParsedConfig, details: ErrorDetail[]): Record<string, NamedCheck> {
  const fallback = cfg.httpService?.internalPort;
  const out: Record<string, NamedCheck> = {};
  for (const [name, check] of Object.entries(cfg.checks)) {
    const port = check.port ?? fallback;
    if (port === undefined) {
      details.push({ path: `checks.${name}.port`, message: 'is required when there is no [http_service]' });
      continue;
    }
    out[name] = { ...check, port };
  }
  return out;
}

function warnSuspend(path: string, mode: AutoStopMode | undefined, warnings: ConfigWarning[]): void {
  if (mode !== 'suspend') return;
  warnings.push({
    path: `${path}.auto_stop_machines`,
    message:
      'auto_stop_machines = "suspend" is kept, but the process runtime cannot suspend and stops machines instead',
  });
}

/**
 * As on Fly, a group's `[processes]` command wins over `[experimental] cmd`, so the cmd is unused when
 * every group has one. (`entrypoint` is used either way: it runs before the group's command.)
 */
function warnUnusedExperimental(cfg: ParsedConfig, warnings: ConfigWarning[]): void {
  const commands = Object.values(cfg.processes);
  if (!cfg.experimental?.cmd || commands.length === 0 || commands.some((c) => c === '')) return;
  warnings.push({ path: 'experimental.cmd', message: 'not used: [processes] gives every process group its command' });
}
