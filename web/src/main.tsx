import { render } from 'preact';
import { useEffect } from 'preact/hooks';
import { connection, loadSession, post, session } from './api.js';
import { AppPage } from './pages/app.js';
import { AppsPage } from './pages/apps.js';
import { DeploymentPage } from './pages/deployment.js';
import { Login } from './pages/login.js';
import { LogsPage } from './pages/logs.js';
import { MetricsPage } from './pages/metrics.js';
import { match, navigate, route } from './router.js';
import { useStore } from './store.js';
import { Link } from './ui.js';

function Page(p: { path: string }) {
  let m: Record<string, string> | undefined;
  if ((m = match('/apps/:app/deployments/:id', p.path))) return <DeploymentPage app={m.app!} id={m.id!} />;
  if ((m = match('/apps/:app/logs', p.path))) return <LogsPage app={m.app!} />;
  if ((m = match('/apps/:app/metrics', p.path))) return <MetricsPage app={m.app!} />;
  if ((m = match('/apps/:app', p.path))) return <AppPage app={m.app!} />;
  return <AppsPage />;
}

function Shell() {
  const path = useStore(route);
  const s = useStore(session);
  const conn = useStore(connection);
  useEffect(() => {
    void loadSession().catch(() => setTimeout(() => void loadSession().catch(() => {}), 1000));
  }, []);
  // While the daemon is away, keep asking; the session (stored with the state) is usually still valid.
  useEffect(() => {
    if (conn !== 'reconnecting') return;
    const t = setInterval(() => void loadSession().catch(() => {}), 1000);
    return () => clearInterval(t);
  }, [conn]);
  if (s === undefined && conn === 'online') return <p class="loading">Loading…</p>;
  if (path === '/login' || s === null) return <Login />;
  return (
    <>
      <header class="top">
        <Link href="/" class="brand">
          hangar
        </Link>
        <nav aria-label="main">
          <Link href="/">Apps</Link>
        </nav>
        <button
          type="button"
          class="link"
          onClick={async () => {
            await post('/ui/logout').catch(() => {});
            session.set(null);
            navigate('/login');
          }}
        >
          Sign out
        </button>
      </header>
      {conn === 'reconnecting' && (
        <div class="banner" role="status" data-testid="reconnecting">
          Reconnecting to the daemon…
        </div>
      )}
      <Page path={path} />
    </>
  );
}

render(<Shell />, document.getElementById('root')!);
