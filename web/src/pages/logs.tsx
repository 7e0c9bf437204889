import { useEffect, useRef, useState } from 'preact/hooks';
import { follow, get } from '../api.js';
import { usePoll } from '../router.js';
import type { LogLine, MachineInfo } from '../types.js';
import { Link } from '../ui.js';
import { LogView } from './log-view.js';

const enc = encodeURIComponent;
const SOURCES = ['app', 'runner', 'health', 'release_command', 'machine_check', 'deploy', 'proxy'];
/** Lines kept in the page; older ones go first. */
const KEEP = 50_000;

/** A live tail of an app's logs with `hangar logs`' filters (machine, region, source). */
export function LogsPage(p: { app: string }) {
  const [machine, setMachine] = useState('');
  const [region, setRegion] = useState('');
  const [sources, setSources] = useState<string[]>([]);
  const [paused, setPaused] = useState(false);
  const [version, setVersion] = useState(0);
  const lines = useRef<LogLine[]>([]);
  const machines = usePoll(() => get<MachineInfo[]>(`/v1/apps/${enc(p.app)}/machines`), 10_000, [p.app]);
  useEffect(() => {
    lines.current = [];
    setVersion((v) => v + 1);
    let frame = 0;
    let lastAt = '';
    const q = new URLSearchParams({ follow: 'true', limit: '1000' });
    if (machine) q.set('machine', machine);
    if (region) q.set('region', region);
    if (sources.length) q.set('source', sources.join(','));
    let reopened = false;
    const stop = follow<LogLine>({
      // After a reconnect, only lines newer than the last one shown are added (the history comes again).
      url: () => `/v1/apps/${enc(p.app)}/logs?${q}`,
      onOpen: () => {
        reopened = lines.current.length > 0;
      },
      onLine: (l) => {
        if (reopened && l.timestamp <= lastAt) return;
        lastAt = l.timestamp;
        const all = lines.current;
        all.push(l);
        // Trimmed in batches: dropping one line per line added would move the whole array each time.
        if (all.length > KEEP + KEEP / 10) all.splice(0, all.length - KEEP);
        // Many lines in one frame cost one render.
        if (!frame) frame = requestAnimationFrame(() => ((frame = 0), setVersion((v) => v + 1)));
      },
      reopenAfterEnd: () => true,
    });
    return () => {
      stop();
      cancelAnimationFrame(frame);
    };
  }, [p.app, machine, region, sources.join(',')]);
  const regions = [...new Set((machines.data ?? []).map((m) => m.region))].sort();
  return (
    <main class="logs">
      <p class="crumbs">
        <Link href={`/apps/${enc(p.app)}`}>{p.app}</Link> / logs
      </p>
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          Machine{' '}
          <select value={machine} onChange={(e) => setMachine((e.target as HTMLSelectElement).value)} data-testid="filter-machine">
            <option value="">all</option>
            {(machines.data ?? []).map((m) => (
              <option key={m.id} value={m.id}>
                {m.id}
              </option>
            ))}
          </select>
        </label>
        <label>
          Region{' '}
          <select value={region} onChange={(e) => setRegion((e.target as HTMLSelectElement).value)}>
            <option value="">all</option>
            {regions.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </label>
        <fieldset>
          <legend>Sources</legend>
          {SOURCES.map((s) => (
            <label key={s} class="inline">
              <input type="checkbox" checked={sources.includes(s)} onChange={(e) => setSources((e.target as HTMLInputElement).checked ? [...sources, s] : sources.filter((x) => x !== s))} /> {s}
            </label>
          ))}
        </fieldset>
        <button type="button" onClick={() => setPaused(!paused)} aria-pressed={paused} data-testid="pause-logs">
          {paused ? 'Resume scrolling' : 'Pause scrolling'}
        </button>
        <span class="quiet">{lines.current.length} lines</span>
      </form>
      <LogView lines={lines.current} version={version} paused={paused} onScrolledUp={() => setPaused(true)} />
    </main>
  );
}
