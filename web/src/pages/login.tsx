import { useEffect, useState } from 'preact/hooks';
import { ApiError, session } from '../api.js';
import { navigate } from '../router.js';
import { ErrorLine } from '../ui.js';

async function signIn(body: { code?: string; token?: string }): Promise<void> {
  const res = await fetch('/ui/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), credentials: 'same-origin' });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new ApiError(res.status, data.code ?? String(res.status), data.error ?? res.statusText, data.hint);
  session.set({ csrf: data.csrf });
}

/**
 * Signing in: with the code of a `hangar dashboard` link (read from the URL's fragment, which never
 * reaches a server log), or with the API token pasted into the form.
 */
export function Login() {
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  const [token, setToken] = useState('');
  const code = new URLSearchParams(location.hash.slice(1)).get('code');
  const go = async (body: { code?: string; token?: string }) => {
    setBusy(true);
    setError(undefined);
    try {
      await signIn(body);
      navigate('/', true);
    } catch (err) {
      setError(err);
      history.replaceState(null, '', '/login');
    } finally {
      setBusy(false);
    }
  };
  useEffect(() => {
    if (code) void go({ code });
  }, []);
  return (
    <main class="login">
      <h1>hangar</h1>
      <p>Sign in with the link <code>hangar dashboard</code> prints, or with the API token.</p>
      <ErrorLine error={error} />
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void go({ token });
        }}
      >
        <label for="token">API token</label>
        <input id="token" type="password" autocomplete="off" value={token} onInput={(e) => setToken((e.target as HTMLInputElement).value)} />
        <button type="submit" disabled={busy || !token}>
          Sign in
        </button>
      </form>
    </main>
  );
}
