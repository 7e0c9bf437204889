import type { FastifyReply, FastifyRequest } from 'fastify';
import { CSRF_HEADER, SESSION_COOKIE, sameSecret, signedOut, type DashboardSession } from '../dashboard/auth.js';
import { DASHBOARD_PAGES, SIGN_IN_PATH } from '../dashboard/paths.js';
import { ASSET_PREFIX } from '../dashboard/assets.js';
import type { ApiDeps } from './server.js';

/** Paths anyone may read: the daemon's liveness, and the dashboard's page and files. */
function isOpen(method: string, path: string): boolean {
  if (path === '/health') return true;
  if (method === 'POST') return path === SIGN_IN_PATH;
  if (method !== 'GET' && method !== 'HEAD') return false;
  if (path.startsWith(ASSET_PREFIX)) return path !== SIGN_IN_PATH;
  return DASHBOARD_PAGES.some((p) => (p.endsWith('/*') ? path.startsWith(p.slice(0, -1)) : path === p));
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The dashboard session a request was let in with (looked up once, here). */
const sessions = new WeakMap<FastifyRequest, DashboardSession>();

/** The session a request was authenticated by, if it came with one (not with the API token). */
export function sessionOf(req: FastifyRequest): DashboardSession | undefined {
  return sessions.get(req);
}

/**
 * Who may call the API: a request with the API token (`Authorization: Bearer`), or the dashboard's
 * browser with its session cookie. A cookie is ambient (the browser sends it whoever made the page), so
 * it is taken on /v1 and the dashboard's own paths only, and a mutating request must also carry the
 * session's CSRF token, which only the dashboard's own page can read.
 */
export function authenticate(deps: Pick<ApiDeps, 'token' | 'dashboard'>) {
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const path = req.url.split('?')[0]!;
    if (isOpen(req.method, path)) return;
    const header = req.headers.authorization ?? '';
    const fail = (status: number, error: string, code: string, hint: string) => reply.status(status).send({ error, code, hint, details: [], request_id: req.id });
    const auth = deps.dashboard?.auth;
    if (!header && auth && req.headers.cookie?.includes(SESSION_COOKIE) && (path.startsWith('/v1/') || path.startsWith('/ui/'))) {
      const session = await auth.session(req.headers.cookie);
      if (!session) {
        const e = signedOut();
        return fail(401, e.message, e.code, e.hint!);
      }
      if (!SAFE_METHODS.has(req.method) && !auth.csrfMatches(session, req.headers[CSRF_HEADER])) {
        return fail(403, `a dashboard request that changes something must carry the ${CSRF_HEADER} header of its session`, 'csrf_failed', 'reload the dashboard page and try again');
      }
      sessions.set(req, session);
      return;
    }
    const m = /^Bearer\s+(.+)$/i.exec(header);
    if (!m || !sameSecret(m[1]!.trim(), deps.token)) {
      return fail(401, header ? 'invalid API token' : 'missing API token', 'unauthorized', 'send Authorization: Bearer <token>; the local token is in $HANGAR_HOME/token');
    }
  };
}
