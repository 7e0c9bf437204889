import { useState } from 'preact/hooks';
import type { MachineInfo } from '../types.js';
import { Badge, THead } from '../ui.js';

/** A machine's checks: each a badge; pressing one shows its last output (as text). */
function Checks(p: { m: MachineInfo }) {
  const [open, setOpen] = useState<string | undefined>(undefined);
  if (p.m.checks.length === 0) return <span class="quiet">none</span>;
  const shown = p.m.checks.find((c) => c.name === open);
  return (
    <div class="checks">
      {p.m.checks.map((c) => (
        <button key={c.name} type="button" class="check" title={c.output} aria-expanded={open === c.name} onClick={() => setOpen(open === c.name ? undefined : c.name)}>
          {c.name} <Badge state={c.status} />
        </button>
      ))}
      {shown && <pre class="output">{shown.output || '(no output)'}</pre>}
    </div>
  );
}

/** Machines grouped by process group, then region (and host, in a cluster). */
export function MachineGroups(p: { machines: MachineInfo[] }) {
  const cluster = new Set(p.machines.map((m) => m.host_id)).size > 1;
  const groups = new Map<string, MachineInfo[]>();
  for (const m of [...p.machines].sort((a, b) => a.process_group.localeCompare(b.process_group) || a.region.localeCompare(b.region) || (a.host ?? '').localeCompare(b.host ?? '') || a.id.localeCompare(b.id))) {
    const key = cluster ? `${m.process_group} · ${m.region} · ${m.host}` : `${m.process_group} · ${m.region}`;
    groups.set(key, [...(groups.get(key) ?? []), m]);
  }
  return (
    <div data-testid="machines">
      {[...groups].map(([key, ms]) => (
        <div key={key} class="group">
          <h3>
            {key} <span class="quiet">({ms.length})</span>
          </h3>
          <table class="list">
            <THead cols={['Machine', 'State', 'Checks', 'Release', 'Image', 'Address', 'In flight']} />
            <tbody>
              {ms.map((m) => (
                <tr key={m.id} data-machine={m.id}>
                  <td>
                    <code>{m.id}</code> <span class="quiet">{m.name}</span>
                  </td>
                  <td>
                    <Badge state={m.state} />
                    {m.cordoned && <span class="badge warn">cordoned</span>}
                    {m.host_status === 'unreachable' && <span class="badge bad">host unreachable</span>}
                  </td>
                  <td>
                    <Checks m={m} />
                  </td>
                  <td>{m.release_version === null ? '—' : `v${m.release_version}`}</td>
                  <td class="image" title={m.image_ref.digest}>
                    {m.config.image}
                  </td>
                  <td>{m.address ? `${m.private_ip}:${m.address.split(':').pop()}` : m.private_ip}</td>
                  <td class="num">{m.inflight}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ))}
    </div>
  );
}
