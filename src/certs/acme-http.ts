import { AsyncLocalStorage } from 'node:async_hooks';
import type { Agent } from 'node:https';
import acme from 'acme-client';

/** An ACME problem document (RFC 8555 §6.7), as a CA answers an error. */
export interface AcmeProblem {
  type?: string;
  detail?: string;
  status?: number;
}

interface Scope {
  agent?: Agent;
  timeoutMs: number;
  problems: AcmeProblem[];
}

const scope = new AsyncLocalStorage<Scope>();
let hooked = false;

/**
 * acme-client sends every request through one process-wide axios instance. Rather than changing its
 * defaults (which would trust a private CA for everything else using it), two interceptors act only on
 * requests made inside `inAcmeScope`: they use the scope's HTTPS agent and timeout, and keep the
 * problem documents the CA answered (acme-client keeps only their text, not their type).
 */
function hook(): void {
  if (hooked) return;
  hooked = true;
  acme.axios.interceptors.request.use((config) => {
    const s = scope.getStore();
    if (s) {
      if (s.agent) config.httpsAgent = s.agent;
      config.timeout = config.timeout || s.timeoutMs;
    }
    return config;
  });
  acme.axios.interceptors.response.use((res) => {
    const s = scope.getStore();
    const data = res.data as AcmeProblem | undefined;
    if (s && res.status >= 400 && data && typeof data === 'object' && typeof data.type === 'string') s.problems.push(data);
    return res;
  });
}

/**
 * Runs `fn` so that its acme-client requests use `agent` (e.g. one trusting a private CA's root) and
 * time out after `timeoutMs`; `fn` gets the list the CA's problem documents are added to.
 */
export function inAcmeScope<T>(opts: { agent?: Agent; timeoutMs: number }, fn: (problems: AcmeProblem[]) => Promise<T>): Promise<T> {
  hook();
  const s: Scope = { ...opts, problems: [] };
  return scope.run(s, () => fn(s.problems));
}
