/**
 * `hangar launch`'s reading of an app directory: a Dockerfile (built by the Docker Engine, as
 * `hangar deploy` does whenever one is there), a Procfile (its lines are the process groups), a Node
 * or Python app (how to build and start it), and the source (health route, port). Only reads files.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_PROCESS_GROUP } from '../../config/index.js';
import { detectNode } from './node-app.js';
import { DEFAULT_PORT, type LaunchPlan, type RuntimeGuess } from './plan.js';
import { detectPython } from './python-app.js';
import { scanSource, validPort, type SourceHints } from './source-scan.js';

/** What launch looks for, in the words of the "could not detect" message. */
export const LOOKED_FOR = 'a Dockerfile, a Procfile, package.json, requirements.txt or pyproject.toml';

/** The Procfile group that gets the http_service, as on Heroku. */
const WEB_GROUP = 'web';
/** A Procfile's `release` line is Heroku's release phase: hangar's `[deploy] release_command`. */
const RELEASE_LINE = 'release';

export function detectApp(dir: string): LaunchPlan {
  const plan: LaunchPlan = { found: [], notes: [], missing: [], env: {}, processes: {} };
  const dockerfile = existsSync(join(dir, 'Dockerfile')) ? 'Dockerfile' : undefined;
  const procfile = readProcfile(dir);
  // With a Dockerfile the image carries its own build; a language guess would only add noise.
  const runtime = dockerfile ? undefined : (detectNode(dir) ?? detectPython(dir));
  if (!dockerfile && !procfile && !runtime) return plan;
  const hints = scanSource(dir);
  let exposed: number | undefined;
  if (dockerfile) {
    plan.kind = 'Dockerfile';
    plan.dockerfile = dockerfile;
    exposed = exposedPort(readFileSync(join(dir, dockerfile), 'utf8'));
    plan.found.push(`Dockerfile: built by the Docker Engine on deploy${exposed ? `, EXPOSE ${exposed}` : ''}`);
  }
  if (runtime) applyRuntime(plan, runtime);
  if (procfile) applyProcfile(plan, procfile);
  else if (runtime?.start) {
    plan.processes[DEFAULT_PROCESS_GROUP] = runtime.start.command;
    plan.found.push(`start: ${runtime.start.command} (${runtime.start.why})`);
  }
  else if (runtime) plan.missing.push(`the command that starts the ${runtime.kind}`);
  if (dockerfile && !procfile) plan.found.push("processes: the image's CMD");
  const serves = procfile ? procfile.has(WEB_GROUP) : true;
  if (serves) plan.http = httpPlan(plan, hints, exposed, procfile ? WEB_GROUP : undefined);
  else plan.notes.push(`the Procfile has no "${WEB_GROUP}" process, so nothing is routed to the app: add [http_service] if one of them serves HTTP`);
  warnAboutPort(plan, hints);
  return plan;
}

function applyRuntime(plan: LaunchPlan, runtime: RuntimeGuess): void {
  plan.kind = runtime.kind;
  plan.found.push(...runtime.found);
  plan.notes.push(...runtime.notes);
  plan.buildCommand = runtime.buildCommand;
  Object.assign(plan.env, runtime.env);
  plan.killSignal = runtime.killSignal;
}

function applyProcfile(plan: LaunchPlan, procfile: Map<string, string>): void {
  plan.kind = plan.kind ? `${plan.kind} with a Procfile` : 'Procfile';
  for (const [name, command] of procfile) {
    if (name === RELEASE_LINE) plan.releaseCommand = command;
    else plan.processes[name] = command;
  }
  const groups = Object.keys(plan.processes);
  plan.found.push(`Procfile: ${groups.length > 0 ? `process groups ${groups.join(', ')}` : 'no processes'}${plan.releaseCommand ? '; release command' : ''}`);
}

function httpPlan(plan: LaunchPlan, hints: SourceHints, exposed: number | undefined, group: string | undefined): LaunchPlan['http'] {
  const port = exposed ?? hints.defaultPort ?? DEFAULT_PORT;
  const why = exposed ? 'the Dockerfile’s EXPOSE' : hints.defaultPort ? `the app’s fallback in ${hints.defaultPortFile}` : 'the default';
  plan.found.push(`internal port: ${port} (${why})`);
  const healthPath = hints.healthPath ?? '/';
  plan.found.push(`health check: GET ${healthPath}${hints.healthFile ? ` (the route in ${hints.healthFile})` : ' (no /health route found)'}`);
  return { group: group ?? (Object.keys(plan.processes).length > 0 ? DEFAULT_PROCESS_GROUP : undefined), port, healthPath };
}

/** A machine is reached on the PORT hangar gives it; an app that ignores PORT fails its checks. */
function warnAboutPort(plan: LaunchPlan, hints: SourceHints): void {
  if (!plan.http || hints.readsPort) return;
  const command = plan.http.group ? plan.processes[plan.http.group] : undefined;
  if (command?.includes('$PORT')) return;
  const docker = plan.dockerfile ? ' (or, for an image that listens on a fixed port, set [docker] network = "published")' : '';
  plan.notes.push(`the source does not seem to read PORT: hangar gives each machine its own port in $PORT, and the app must listen on it${docker}`);
}

/** `name: command` lines; blank lines and `#` comments are skipped. Undefined when there is no Procfile. */
function readProcfile(dir: string): Map<string, string> | undefined {
  const file = join(dir, 'Procfile');
  if (!existsSync(file)) return undefined;
  const out = new Map<string, string>();
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    const m = /^\s*([A-Za-z0-9_-]+)\s*:\s*(.+?)\s*$/.exec(raw);
    if (!m || raw.trimStart().startsWith('#')) continue;
    out.set(groupName(m[1]!), m[2]!);
  }
  return out;
}

/** hangar's group names are lowercase and start with a letter (the config loader checks the result). */
function groupName(name: string): string {
  const lower = name.toLowerCase();
  return /^[a-z]/.test(lower) ? lower : `p${lower}`;
}

/** The first numeric port of the Dockerfile's EXPOSE lines (`EXPOSE 3000/tcp 8080`); `$VAR` ports are skipped. */
export function exposedPort(dockerfile: string): number | undefined {
  const joined = dockerfile.replace(/\\\r?\n/g, ' ');
  for (const line of joined.split('\n')) {
    const m = /^\s*EXPOSE\s+(.+)$/i.exec(line);
    if (!m) continue;
    for (const word of m[1]!.trim().split(/\s+/)) {
      const n = Number(/^(\d+)(?:\/(?:tcp|udp))?$/i.exec(word)?.[1]);
      if (validPort(n)) return n;
    }
  }
  return undefined;
}
