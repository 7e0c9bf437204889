import { get } from '../api.js';
import { usePoll } from '../router.js';
import type { AppInfo, DeploymentInfo, MachineInfo, ReleaseInfo } from '../types.js';
import { Badge, ErrorLine, Link, THead } from '../ui.js';

interface AppSummary {
  app: AppInfo;
  states: Record<string, number>;
  release: ReleaseInfo | undefined;
  running: DeploymentInfo | undefined;
}

const enc = encodeURIComponent;

async function summaries(): Promise<AppSummary[]> {
  const { apps } = await get<{ apps: AppInfo[] }>('/v1/apps');
  return Promise.all(
    apps.map(async (app) => {
      const [machines, releases, deployments] = await Promise.all([
        get<MachineInfo[]>(`/v1/apps/${enc(app.name)}/machines`),
        get<ReleaseInfo[]>(`/v1/apps/${enc(app.name)}/releases`),
        get<DeploymentInfo[]>(`/v1/apps/${enc(app.name)}/deployments`),
      ]);
      const states: Record<string, number> = {};
      for (const m of machines) states[m.state] = (states[m.state] ?? 0) + 1;
      return { app, states, release: releases.find((r) => r.status === 'complete') ?? releases[0], running: deployments.find((d) => d.status === 'running') };
    }),
  );
}

/** Every app: its URL, its machines by state, its current release and the deploy running now. */
export function AppsPage() {
  const { data, error } = usePoll(summaries, 3000, []);
  return (
    <main>
      <h1>Apps</h1>
      <ErrorLine error={error} />
      {data && data.length === 0 && <p>No apps yet: run <code>hangar launch</code> and <code>hangar deploy</code> in an app's directory.</p>}
      {data && data.length > 0 && (
        <table class="list" data-testid="apps">
          <THead cols={['App', 'URL', 'Machines', 'Release', 'Deploy']} />
          <tbody>
            {data.map((s) => (
              <tr key={s.app.name}>
                <td>
                  <Link href={`/apps/${enc(s.app.name)}`}>{s.app.name}</Link>
                </td>
                <td>{s.app.url ? <a href={s.app.url}>{s.app.url}</a> : '—'}</td>
                <td>
                  {Object.entries(s.states).map(([state, n]) => (
                    <span key={state} class="count">
                      {n} <Badge state={state} />
                    </span>
                  ))}
                  {Object.keys(s.states).length === 0 && '0'}
                </td>
                <td>{s.release ? `v${s.release.version} (${s.release.status})` : '—'}</td>
                <td>{s.running ? <Link href={`/apps/${enc(s.app.name)}/deployments/${s.running.id}`}>{`${s.running.strategy} to v${s.running.release}: ${s.running.phase}`}</Link> : '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </main>
  );
}
