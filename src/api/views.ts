import type { App, Image, Lease, Machine, MachineEvent } from '../core/types.js';
import type { AppView, ImageView, LeaseView, MachineView } from './contract.js';

/** Where a machine runs, as the API shows it: its host, whether that host's node answers, its address. */
export interface MachineHostView {
  id: string;
  name: string;
  status: 'ok' | 'unreachable';
  address: string;
}

const UNKNOWN_HOST: MachineHostView = { id: '', name: '', status: 'unreachable', address: '127.0.0.1' };

export function machineView(m: Machine, events: MachineEvent[] = [], checks: Array<{ name: string; status: string; output: string; updatedAt: string }> = [], inflight = 0, host: MachineHostView = UNKNOWN_HOST): MachineView {
  const live = m.state === 'started' && m.port !== null;
  const release = m.config.metadata.fly_release_version;
  return {
    id: m.id,
    name: m.name,
    state: m.state,
    region: m.region,
    instance_id: m.instanceId,
    private_ip: host.address,
    host_id: m.hostId,
    host: host.name,
    image_ref: m.imageRef,
    config: m.config as MachineView['config'],
    checks: checks.map((c) => ({ name: c.name, status: c.status, output: c.output, updated_at: c.updatedAt })),
    events: events.map(eventView),
    created_at: m.createdAt,
    updated_at: m.updatedAt,
    cordoned: m.cordoned,
    host_status: host.status,
    runtime: m.runtime,
    process_group: m.config.metadata.fly_process_group ?? 'app',
    release_version: release !== undefined && /^\d+$/.test(release) ? Number(release) : null,
    started_at: m.startedAt,
    restart_count: m.restartCount,
    inflight,
    address: live ? `127.0.0.1:${m.port}` : null,
    port: live ? m.port : null,
  };
}

export function eventView(e: MachineEvent): MachineView['events'][number] {
  const exit = e.exitCode !== undefined || e.signal !== undefined ? { exit_event: { ...(e.exitCode !== undefined ? { exit_code: e.exitCode } : {}), ...(e.signal ? { signal: e.signal } : {}) } } : undefined;
  return { type: e.type, status: e.status, source: e.source, timestamp: e.timestamp, ...(exit ? { request: exit } : {}), ...(e.message ? { message: e.message } : {}) };
}

export function appView(app: App, machineCount: number, proxy: { host: string; port: number } | undefined): AppView {
  const hostname = `${app.name}.localhost`;
  return {
    id: app.id,
    name: app.name,
    status: machineCount > 0 ? 'deployed' : 'pending',
    machine_count: machineCount,
    created_at: app.createdAt,
    hostname,
    url: proxy ? `http://${hostname}:${proxy.port}` : null,
  };
}

export function imageView(i: Image): ImageView {
  return { ref: i.fullRef, ...i.ref, runtime: i.runtime, size_bytes: i.sizeBytes, file_count: i.fileCount, created_at: i.createdAt };
}

export function leaseView(l: Lease): LeaseView {
  return { nonce: l.nonce, expires_at: Math.floor(l.expiresAt / 1000), owner: l.owner, description: l.description };
}
