import type { Logger } from 'pino';
import type { DeployEvent, Deployment } from '../core/deploy.js';

type NotifyEventName = 'started' | 'completed' | 'failed' | 'rolled_back';

export interface NotifierOptions {
  log: Logger;
  /** Delays between attempts; one attempt more than there are delays. */
  retryDelaysMs?: number[];
  timeoutMs?: number;
}

/** The JSON a webhook receives: Slack-compatible `text` plus structured fields. */
export interface NotifyBody {
  text: string;
  event: NotifyEventName;
  app: string;
  release: number;
  deployment: string;
  strategy: string;
  status: string;
  duration_ms: number;
  machines: Array<{ id: string; outcome: string }>;
  url: string | null;
  message: string;
}

/**
 * Tells `[[deploy.notify]]` webhooks (and `hangar deploy --notify URL`) when a deploy starts and how it
 * ended. Delivery is fire-and-forget with retries and backoff: a failing webhook is logged and never
 * blocks or fails the deploy.
 */
export class DeployNotifier {
  private readonly delays: number[];

  constructor(private readonly opts: NotifierOptions) {
    this.delays = opts.retryDelaysMs ?? [1000, 5000, 15_000];
  }

  /** Feed it every deploy event (DeployService.onAnyEvent). */
  handle(d: Deployment, e: DeployEvent): void {
    const name = eventName(d, e);
    if (!name || !d.options.notify?.length) return;
    const body = bodyFor(d, e, name);
    for (const target of d.options.notify) {
      if (target.events.includes(name)) void this.deliver(target.url, body);
    }
  }

  private async deliver(url: string, body: NotifyBody): Promise<void> {
    for (let attempt = 0; attempt <= this.delays.length; attempt++) {
      try {
        const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'user-agent': 'hangar' }, body: JSON.stringify(body), signal: AbortSignal.timeout(this.opts.timeoutMs ?? 10_000) });
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) return;
        this.opts.log.warn({ url, status: res.status, attempt, event: body.event }, 'deploy notification rejected');
      } catch (err) {
        this.opts.log.warn({ url, err: (err as Error).message, attempt, event: body.event }, 'deploy notification failed');
      }
      const wait = this.delays[attempt];
      if (wait !== undefined) await new Promise((r) => setTimeout(r, wait));
    }
    this.opts.log.error({ url, event: body.event }, 'deploy notification gave up');
  }
}

function eventName(d: Deployment, e: DeployEvent): NotifyEventName | undefined {
  if (e.type === 'phase' && e.phase === 'pending') return 'started';
  if (e.type !== 'done') return undefined;
  if (e.status === 'complete') return 'completed';
  if (e.status === 'rolled_back') return 'rolled_back';
  void d;
  return 'failed';
}

function bodyFor(d: Deployment, e: DeployEvent, name: NotifyEventName): NotifyBody {
  const duration = Date.now() - Date.parse(d.createdAt);
  const status = e.type === 'done' ? e.status : 'running';
  const verb = { started: 'started', completed: 'completed', failed: 'failed', rolled_back: 'was rolled back' }[name];
  const message = e.type === 'done' || e.type === 'phase' ? e.message : '';
  return {
    text: `hangar: ${d.appName} release v${d.releaseVersion} (${d.options.strategy}) ${verb}${name === 'started' ? '' : ` after ${(duration / 1000).toFixed(1)}s`}${name === 'failed' || name === 'rolled_back' ? `: ${message}` : ''}`,
    event: name,
    app: d.appName,
    release: d.releaseVersion,
    deployment: d.id,
    strategy: d.options.strategy,
    status,
    duration_ms: duration,
    machines: d.machines.map((p) => ({ id: p.machineId, outcome: p.outcome })),
    url: e.type === 'done' ? e.url : null,
    message,
  };
}
