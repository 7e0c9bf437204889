import { spawn } from 'node:child_process';
import { Command } from 'commander';
import { action, common } from '../common.js';
import { printJson, say } from '../output.js';

interface LoginCode {
  code: string;
  path: string;
  expires_at: string;
}

/** A browser for the link, when this machine has a display to show one on (never an error if not). */
function openBrowser(url: string): boolean {
  const cmd = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : process.env.DISPLAY || process.env.WAYLAND_DISPLAY ? 'xdg-open' : undefined;
  if (!cmd) return false;
  try {
    const child = spawn(cmd, [url], { stdio: 'ignore', detached: true });
    child.on('error', () => {});
    child.unref();
    return true;
  } catch {
    return false;
  }
}

/** `hangar dashboard`: the web dashboard's address, with a one-time login link. */
export function dashboardCommand(): Command {
  return common(new Command('dashboard').description('open the web dashboard (prints its URL with a one-time login link)'), { app: false })
    .option('--no-open', 'only print the link, never start a browser')
    .action(
      action(async (ctx) => {
        const ep = await ctx.api.resolve();
        const c = await ctx.api.post<LoginCode>('/v1/dashboard/codes');
        const url = ep.url + c.path;
        if (ctx.opts.json) return printJson({ url, dashboard: `${ep.url}/`, expires_at: c.expires_at });
        say(`dashboard: ${ep.url}/`);
        say(`login link (once, until ${new Date(c.expires_at).toLocaleTimeString()}): ${url}`);
        if ((ctx.opts as { open?: boolean }).open !== false && openBrowser(url)) say('opening it in your browser');
      }),
    );
}
