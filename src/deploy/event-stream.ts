import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { DeployEvent, Deployment, StoredDeployEvent } from '../core/deploy.js';
import type { State } from '../state/index.js';

/** How often a follower of another node's deploy reads its new events. */
const FOLLOW_POLL_MS = 200;

/**
 * Deploy events in order: stored with consecutive seqs by the node running the deploy, delivered to
 * this node's listeners once each, and read from the shared state for a deploy another node runs, so a
 * watcher can attach through any node and keeps following if this node takes the deploy over.
 */
export class DeployEventStream {
  private readonly ee = new EventEmitter();
  private readonly seqs = new Map<string, number>();
  /** Newest event seq each deploy has had delivered to this node's listeners (local or followed). */
  private readonly delivered = new Map<string, number>();
  private readonly followers = new Map<string, { count: number; timer: NodeJS.Timeout }>();

  constructor(private readonly deps: { state: State; log: Logger; runsHere: (id: string) => boolean }) {
    this.ee.setMaxListeners(0);
  }

  /** This node now writes the deploy's events, the next after `lastSeq`. */
  writeFrom(id: string, lastSeq: number): void {
    this.seqs.set(id, lastSeq);
  }

  async emit(d: Deployment, event: DeployEvent): Promise<void> {
    const seq = (this.seqs.get(d.id) ?? 0) + 1;
    this.seqs.set(d.id, seq);
    const stored = await this.deps.state.deployments.addEvent(d.id, seq, event);
    this.deliver(d.id, stored);
    this.ee.emit('*', d, event);
  }

  /** Every event of every deploy this node runs, as it is emitted. */
  onAny(fn: (d: Deployment, e: DeployEvent) => void): () => void {
    this.ee.on('*', fn);
    return () => this.ee.off('*', fn);
  }

  /** Calls `fn` with each new event of the deploy, wherever it runs. */
  on(id: string, fn: (e: StoredDeployEvent) => void): () => void {
    this.ee.on(id, fn);
    const f = this.followers.get(id);
    if (f) f.count++;
    else this.followers.set(id, { count: 1, timer: this.follow(id) });
    return () => {
      this.ee.off(id, fn);
      const cur = this.followers.get(id);
      if (cur && --cur.count === 0) {
        clearInterval(cur.timer);
        this.followers.delete(id);
      }
    };
  }

  stop(): void {
    for (const f of this.followers.values()) clearInterval(f.timer);
    this.followers.clear();
  }

  private follow(id: string): NodeJS.Timeout {
    let busy = false;
    const timer = setInterval(() => {
      if (busy || this.deps.runsHere(id)) return;
      busy = true;
      this.deps.state.deployments
        .events(id, this.delivered.get(id) ?? 0)
        .then((es) => {
          for (const e of es) this.deliver(id, e);
        })
        .catch((err) => this.deps.log.warn({ err, deployment: id }, 'could not read the deploy events'))
        .finally(() => (busy = false));
    }, FOLLOW_POLL_MS);
    timer.unref();
    return timer;
  }

  private deliver(id: string, e: StoredDeployEvent): void {
    if (e.seq <= (this.delivered.get(id) ?? 0)) return;
    this.delivered.set(id, e.seq);
    this.ee.emit(id, e);
  }
}
