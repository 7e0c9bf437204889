import type { HttpPlan, LaunchPlan } from './plan.js';

export interface RenderOptions {
  app: string;
  region: string;
}

/**
 * hangar.toml text for a plan. Everything launch could not work out is written as a commented stand-in,
 * so the file loads as it is and shows the user what to fill in. With nothing detected that is the
 * whole file but `app` and `primary_region`.
 */
export function renderConfig(plan: LaunchPlan, opts: RenderOptions): string {
  const what = plan.kind ? `for a ${plan.kind}` : 'as a template: nothing in the directory told how to build or run the app';
  const parts = [
    `# Written by \`hangar launch\` ${what}.\n# Every key is described in the README's config reference. Deploy with: hangar deploy\n` +
      `app = ${str(opts.app)}\nprimary_region = ${str(opts.region)}\n${plan.killSignal ? `kill_signal = ${str(plan.killSignal)}\n` : ''}`,
    buildSection(plan),
    envSection(plan),
    processesSection(plan),
    plan.releaseCommand ? `[deploy]\nrelease_command = ${str(plan.releaseCommand)}\n` : '',
    plan.http ? httpSection(plan.http) : plan.kind ? '' : TEMPLATE_HTTP,
    plan.dockerfile ? DOCKER_NETWORK : '',
  ];
  return parts.filter((p) => p !== '').join('\n');
}

function buildSection(plan: LaunchPlan): string {
  if (plan.dockerfile) return `[build]\ndockerfile = ${str(plan.dockerfile)}\n`;
  if (plan.buildCommand) return `[build]\n# Runs in the daemon, in a copy of the app directory, on every deploy.\ncommand = ${str(plan.buildCommand)}\n`;
  if (plan.kind) return '';
  return [
    '# [build]',
    '# command = "npm ci --omit=dev"     # run on a copy of the directory when deploying (process machines)',
    '# dockerfile = "Dockerfile"        # or: build this Dockerfile with the Docker Engine',
    '',
  ].join('\n');
}

function envSection(plan: LaunchPlan): string {
  const entries = Object.entries(plan.env);
  if (entries.length === 0) return '';
  return `[env]\n${entries.map(([k, v]) => `${key(k)} = ${str(v)}`).join('\n')}\n`;
}

function processesSection(plan: LaunchPlan): string {
  const entries = Object.entries(plan.processes);
  if (entries.length > 0) return `[processes]\n${entries.map(([k, v]) => `${key(k)} = ${str(v)}`).join('\n')}\n`;
  if (plan.dockerfile) return '';
  return [
    '# [processes]                     # group = command; the app must listen on $PORT',
    '# app = "node server.js"          # or "python3 app.py", "./bin/server", …',
    '',
  ].join('\n');
}

function httpSection(http: HttpPlan): string {
  return [
    '[http_service]',
    '# hangar gives each machine a free port in $PORT and routes <app>.localhost to it. internal_port is',
    '# the port the app uses without PORT (and the container port under [docker] network = "published").',
    `internal_port = ${http.port}`,
    ...(http.group ? [`processes = [${str(http.group)}]`] : []),
    '',
    '  [[http_service.checks]]',
    '  grace_period = "1s"',
    '  interval = "10s"',
    '  timeout = "2s"',
    '  method = "GET"',
    `  path = ${str(http.healthPath)}`,
    '',
  ].join('\n');
}

const TEMPLATE_HTTP = [
  '# [http_service]                  # route <app>.localhost to the app',
  '# internal_port = 8080',
  '#',
  '#   [[http_service.checks]]',
  '#   interval = "10s"',
  '#   path = "/"',
  '',
].join('\n');

const DOCKER_NETWORK = [
  '# The container shares the host network and must listen on $PORT. For an image that listens on a',
  '# fixed port instead, publish internal_port:',
  '# [docker]',
  '# network = "published"',
  '',
].join('\n');

/** A TOML basic string. JSON's escapes are TOML's, except that TOML also forbids a raw DEL. */
function str(value: string): string {
  return JSON.stringify(value).replace(/\u007f/g, '\\u007F');
}

function key(name: string): string {
  return /^[A-Za-z0-9_-]+$/.test(name) ? name : str(name);
}
