import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ASSET_PREFIX, type Asset, type DashboardAssets } from '../../dashboard/assets.js';
import { signedOut, type DashboardAuth } from '../../dashboard/auth.js';
import { DASHBOARD_PAGES, SIGN_IN_PATH, SIGN_OUT_PATH } from '../../dashboard/paths.js';
import { sessionOf } from '../auth-hook.js';
import { NoQuery } from '../contract-parts.js';
import { route } from '../openapi.js';
import type { Api } from '../server.js';

/** What the dashboard routes need. */
export interface DashboardDeps {
  auth: DashboardAuth;
  assets: DashboardAssets;
}

const LoginCodeView = z.object({
  code: z.string().describe('redeemable once, at /login#code=CODE on this address'),
  path: z.string().describe('the login link, relative to the API address'),
  expires_at: z.string().describe('ISO 8601; the code is refused after this'),
});
const SignInBody = z.object({ code: z.string().min(1).max(200).optional(), token: z.string().min(1).max(500).optional() }).strict();
const hidden = { hide: true, querystring: NoQuery } as const;

/**
 * The web dashboard, served by the daemon at its API address: its page and assets, signing in with a
 * one-time code (or the API token) for a session cookie, and signing out. Everything the page shows it
 * reads from the same /v1 API, authenticated by that cookie (see server.ts).
 */
export function dashboardRoutes(app: Api, deps: DashboardDeps): void {
  const page = (req: FastifyRequest, reply: FastifyReply) => send(req, reply, deps.assets.page, deps.assets.csp);
  for (const path of DASHBOARD_PAGES) app.get(path, { schema: { hide: true } }, page);

  app.get(`${ASSET_PREFIX}*`, { schema: { hide: true } }, async (req, reply) => {
    const a = deps.assets.get((req.params as { '*': string })['*']);
    if (!a) return reply.status(404).send({ error: `no dashboard file ${req.url}`, code: 'not_found', hint: 'the dashboard is at /', details: [], request_id: req.id });
    return send(req, reply, a, deps.assets.csp);
  });

  app.post('/v1/dashboard/codes', { schema: route({ tags: ['dashboard'], summary: 'A one-time login code for the web dashboard (what `hangar dashboard` prints)', ok: { 201: LoginCodeView } }) }, async (_req, reply) => {
    const c = await deps.auth.newCode();
    return reply.status(201).send({ code: c.code, path: `/login#code=${c.code}`, expires_at: new Date(c.expiresAt).toISOString() });
  });

  app.post(SIGN_IN_PATH, { schema: { ...hidden, body: SignInBody } }, async (req, reply) => {
    const s = await deps.auth.signIn(req.body as z.infer<typeof SignInBody>);
    reply.header('set-cookie', deps.auth.cookie(s));
    reply.header('cache-control', 'no-store');
    return { csrf: s.csrf, expires_at: new Date(s.expiresAt).toISOString() };
  });

  // The page learns its CSRF token here: a same-origin read that another site's page cannot make.
  app.get(SIGN_IN_PATH, { schema: hidden }, async (req, reply) => {
    const s = sessionOf(req);
    if (!s) throw signedOut();
    reply.header('cache-control', 'no-store');
    return { csrf: s.csrf, expires_at: new Date(s.expiresAt).toISOString() };
  });

  app.post(SIGN_OUT_PATH, { schema: hidden }, async (req, reply) => {
    const s = sessionOf(req);
    if (s) await deps.auth.signOut(s);
    reply.header('set-cookie', deps.auth.cookie(undefined));
    return { ok: true };
  });
}

function send(req: FastifyRequest, reply: FastifyReply, a: Asset, csp: string) {
  reply.header('content-security-policy', csp);
  reply.header('x-content-type-options', 'nosniff');
  reply.header('referrer-policy', 'no-referrer');
  reply.header('cache-control', 'no-cache');
  reply.header('etag', a.etag);
  reply.header('vary', 'accept-encoding');
  reply.type(a.type);
  if (req.headers['if-none-match'] === a.etag) return reply.status(304).send();
  if (/\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) {
    reply.header('content-encoding', 'gzip');
    return reply.send(a.gzip);
  }
  return reply.send(a.body);
}
