import { get, post } from '../api.js';
import { navigate, usePoll } from '../router.js';
import type { AppInfo, DeploymentInfo, MachineInfo, ReleaseInfo, SecretInfo } from '../types.js';
import { Ago, Badge, ConfirmButton, ErrorLine, Link, Section, THead } from '../ui.js';
import { MachineGroups } from './machines.js';

const enc = encodeURIComponent;

interface AppData {
  app: AppInfo;
  machines: MachineInfo[];
  releases: ReleaseInfo[];
  deployments: DeploymentInfo[];
  secrets: SecretInfo[];
}

async function load(name: string): Promise<AppData> {
  const base = `/v1/apps/${enc(name)}`;
  const [app, machines, releases, deployments, secrets] = await Promise.all([
    get<AppInfo>(base),
    get<MachineInfo[]>(`${base}/machines`),
    get<ReleaseInfo[]>(`${base}/releases`),
    get<DeploymentInfo[]>(`${base}/deployments`),
    get<{ secrets: SecretInfo[] }>(`${base}/secrets`),
  ]);
  return { app, machines, releases, deployments, secrets: secrets.secrets };
}

function Releases(p: { app: string; releases: ReleaseInfo[]; current: number | undefined }) {
  return (
    <table class="list" data-testid="releases">
      <THead cols={['Version', 'Stable', 'Status', 'Description', 'User', 'Date', 'Image', '']} />
      <tbody>
        {p.releases.map((r) => (
          <tr key={r.version} data-release={r.version}>
            <td>v{r.version}</td>
            <td>{r.stable ? 'yes' : ''}</td>
            <td>
              <Badge state={r.status} />
            </td>
            <td>{r.description}</td>
            <td>{r.user}</td>
            <td>
              <Ago at={r.created_at} />
            </td>
            <td class="image">{r.image}</td>
            <td>
              {r.version !== p.current && (
                <ConfirmButton
                  label="Roll back"
                  testId={`rollback-${r.version}`}
                  question={`Deploy v${r.version} again?`}
                  action={async () => {
                    const d = await post<DeploymentInfo>(`/v1/apps/${enc(p.app)}/releases/rollback`, { version: r.version, user: 'dashboard' });
                    navigate(`/apps/${enc(p.app)}/deployments/${d.id}`);
                  }}
                />
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** One app: machines, the running deploy, releases with rollback, deployments and secrets. */
export function AppPage(p: { app: string }) {
  const { data, error } = usePoll(() => load(p.app), 2000, [p.app]);
  if (!data) return <main>{error ? <ErrorLine error={error} /> : <p class="loading">Loading…</p>}</main>;
  const versions = new Set(data.machines.map((m) => m.release_version));
  const running = data.deployments.find((d) => d.status === 'running');
  const current = data.releases.find((r) => r.status === 'complete')?.version;
  return (
    <main>
      <h1>
        {data.app.name} {data.app.url && <a href={data.app.url} class="url">{data.app.url}</a>}
      </h1>
      <ErrorLine error={error} />
      <nav class="tabs" aria-label="app">
        <Link href={`/apps/${enc(p.app)}/metrics`}>Metrics</Link>
        <Link href={`/apps/${enc(p.app)}/logs`}>Logs</Link>
      </nav>
      {running && (
        <p class="notice" data-testid="running-deploy">
          Deploying v{running.release} ({running.strategy}, {running.phase}): <Link href={`/apps/${enc(p.app)}/deployments/${running.id}`}>watch it</Link>
        </p>
      )}
      {versions.size > 1 && (
        <p class="warning" role="status" data-testid="mixed-releases">
          Machines run different releases: {[...versions].map((v) => (v === null ? 'none' : `v${v}`)).join(', ')}
        </p>
      )}
      <Section title={`Machines (${data.machines.length})`} id="machines">
        <MachineGroups machines={data.machines} />
      </Section>
      <Section title="Releases" id="releases">
        <Releases app={p.app} releases={data.releases} current={current} />
      </Section>
      <Section title="Deployments" id="deployments">
        <ul class="plain">
          {data.deployments.slice(0, 10).map((d) => (
            <li key={d.id}>
              <Link href={`/apps/${enc(p.app)}/deployments/${d.id}`}>{`v${d.release} ${d.strategy}`}</Link> <Badge state={d.status} /> <Ago at={d.created_at} />
            </li>
          ))}
        </ul>
      </Section>
      <Section title="Secrets" id="secrets">
        {data.secrets.length === 0 ? (
          <p class="quiet">none</p>
        ) : (
          <table class="list">
            <THead cols={['Name', 'Digest', 'Updated']} />
            <tbody>
              {data.secrets.map((s) => (
                <tr key={s.name}>
                  <td>{s.name}</td>
                  <td>
                    <code>{s.digest}</code>
                  </td>
                  <td>
                    <Ago at={s.updated_at} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Section>
    </main>
  );
}
