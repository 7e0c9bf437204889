import { useEffect, useState } from 'preact/hooks';
import { follow, get, post } from '../api.js';
import { Chart } from '../charts.js';
import { usePoll } from '../router.js';
import type { DeployEventLine, DeploymentInfo, MachineInfo } from '../types.js';
import { ActionButton, Ago, Badge, ConfirmButton, ErrorLine, Link, Section, THead } from '../ui.js';
import { emptyState, fold, STEPS, stepsDone, strategyState, type Decision, type DeployState } from './deploy-state.js';

const enc = encodeURIComponent;
const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
const ms = (x: number | null) => (x === null ? '—' : `${x.toFixed(1)} ms`);

function Decisions(p: { decisions: Decision[] }) {
  const x = p.decisions.map((_, i) => i + 1);
  return (
    <>
      <div class="charts">
        <Chart
          title="Error rate (%)"
          testId="chart-errors"
          unit="%"
          series={[
            { label: 'canary', color: '#d9480f' },
            { label: 'stable', color: '#1c7ed6', dashed: true },
          ]}
          data={[x, p.decisions.map((d) => d.canary.errorRate * 100), p.decisions.map((d) => d.stable.errorRate * 100)]}
        />
        <Chart
          title="p95 latency (ms)"
          testId="chart-p95"
          series={[
            { label: 'canary', color: '#d9480f' },
            { label: 'stable', color: '#1c7ed6', dashed: true },
          ]}
          data={[x, p.decisions.map((d) => d.canary.p95Ms), p.decisions.map((d) => d.stable.p95Ms)]}
        />
      </div>
      <table class="list" data-testid="decisions">
        <THead cols={['Step', 'Weight', 'Verdict', 'Canary errors', 'Stable errors', 'Canary p95', 'Stable p95', 'Reason']} />
        <tbody>
          {p.decisions.map((d, i) => (
            <tr key={i} class={`verdict-${d.verdict}`}>
              <td>{d.step}</td>
              <td>{d.weight}%</td>
              <td>
                <Badge state={d.verdict === 'abort' ? 'failed' : d.verdict === 'promote' ? 'complete' : 'running'} title={d.verdict} /> {d.verdict}
              </td>
              <td>{`${pct(d.canary.errorRate)} of ${d.canary.requests}`}</td>
              <td>{`${pct(d.stable.errorRate)} of ${d.stable.requests}`}</td>
              <td>{ms(d.canary.p95Ms)}</td>
              <td>{ms(d.stable.p95Ms)}</td>
              <td>{d.reason}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

function Controls(p: { d: DeploymentInfo; onChange: (d: DeploymentInfo) => void }) {
  const { d } = p;
  if (d.status !== 'running') return null;
  const control = (action: string) => async () => p.onChange(await post<DeploymentInfo>(`/v1/deployments/${d.id}/${action}`));
  return (
    <div class="controls" role="group" aria-label="deploy controls">
      {d.strategy === 'canary' && <ActionButton label="Promote" testId="promote" action={control('promote')} />}
      {d.strategy === 'canary' && (d.paused ? <ActionButton label="Resume" testId="resume" action={control('resume')} /> : <ActionButton label="Pause" testId="pause" action={control('pause')} />)}
      {d.strategy === 'bluegreen' && d.phase === 'awaiting_promotion' && <ActionButton label="Cut over" testId="cutover" action={control('promote')} />}
      {(d.strategy === 'canary' || d.strategy === 'bluegreen') && <ConfirmButton label="Abort" class="danger" testId="abort" question="Abort and roll back?" action={control('abort')} />}
    </div>
  );
}

function Progress(p: { done: number; failed: boolean }) {
  return (
    <ol class="steps">
      {STEPS.map((s, i) => (
        <li key={s} class={i < p.done ? 'done' : p.failed && i === p.done ? 'failed' : ''}>
          {s}
        </li>
      ))}
    </ol>
  );
}

/**
 * A deployment as it happens: its phases, each machine's progress, failures with their reason and,
 * for a canary, its steps, traffic split and decisions. It follows the deployment's event stream (and
 * picks it up again, after what it had, when the daemon comes back).
 */
export function DeploymentPage(p: { app: string; id: string }) {
  const [d, setD] = useState<DeploymentInfo | undefined>(undefined);
  const [s, setS] = useState<DeployState>(emptyState);
  const [error, setError] = useState<unknown>(undefined);
  useEffect(() => {
    let state = emptyState();
    let info: DeploymentInfo | undefined;
    setS(state);
    const refresh = () =>
      get<DeploymentInfo>(`/v1/deployments/${p.id}`).then(
        (v) => {
          info = v;
          setD(v);
        },
        setError,
      );
    void refresh();
    const stop = follow<DeployEventLine>({
      url: () => `/v1/deployments/${p.id}/events?follow=true&after=${state.lastSeq}`,
      onOpen: () => void refresh(),
      onLine: (line) => {
        state = fold(state, line);
        setS(state);
        if (line.event.type !== 'log') void refresh();
      },
      // A stream that ends before `done` (the deploy was not running when it opened) has said all.
      reopenAfterEnd: () => !state.done && info?.status === 'running',
    });
    return stop;
  }, [p.id]);
  const running = d?.status === 'running' && !s.done;
  const live = usePoll(() => get<MachineInfo[]>(`/v1/apps/${enc(p.app)}/machines`), running ? 1000 : 5000, [p.app, running]);
  if (!d) return <main>{error ? <ErrorLine error={error} /> : <p class="loading">Loading…</p>}</main>;
  const byId = new Map((live.data ?? []).map((m) => [m.id, m]));
  const st = strategyState(d);
  const weight = s.decisions.at(-1)?.weight ?? st.weight;
  const status = s.done?.status ?? d.status;
  return (
    <main data-testid="deployment" data-seq={s.lastSeq} data-status={status}>
      <p class="crumbs">
        <Link href={`/apps/${enc(p.app)}`}>{p.app}</Link> / deployment
      </p>
      <h1>
        v{d.release} · {d.strategy} <Badge state={status} /> {d.paused && status === 'running' && <Badge state="paused" />}
      </h1>
      <p class="quiet">
        <code>{d.id}</code> · started <Ago at={d.created_at} /> · phase <strong data-testid="phase">{d.phase}</strong>
      </p>
      <ErrorLine error={error} />
      {s.done && (
        <p class={s.done.status === 'complete' ? 'notice' : 'warning'} data-testid="done">
          {s.done.message}
        </p>
      )}
      {d.error && !s.done && <p class="error">{d.error}</p>}
      <Controls d={d} onChange={setD} />
      {d.strategy === 'canary' && (
        <Section title="Canary" id="canary">
          <p data-testid="split">
            Traffic: {weight === undefined ? 'not shifted yet' : `canary ${weight}% · stable ${100 - weight}%`}
            {st.canaries.length > 0 && <span class="quiet"> · canaries {st.canaries.join(', ')}</span>}
          </p>
          {s.decisions.length > 0 ? <Decisions decisions={s.decisions} /> : <p class="quiet">No decision yet.</p>}
        </Section>
      )}
      {d.strategy === 'bluegreen' && (
        <Section title="Blue/green" id="bluegreen">
          <p data-testid="green">
            Green set: {st.green.length ? st.green.join(', ') : 'not created yet'} · {st.cut ? 'cut over' : 'blue serves'}
          </p>
        </Section>
      )}
      <Section title="Phases" id="phases">
        <ol class="phases" data-testid="phases">
          {s.phases.map((ph, i) => (
            <li key={i} class={i === s.phases.length - 1 && running ? 'current' : ''}>
              <strong>{ph.phase}</strong> {ph.message} <Ago at={ph.at} />
            </li>
          ))}
        </ol>
      </Section>
      <Section title="Machines" id="progress">
        <table class="list" data-testid="progress">
          <THead cols={['Machine', 'Group', 'Region', 'Outcome', 'Progress']} />
          <tbody>
            {d.machines.map((m) => {
              const ev = s.machines[m.id];
              const outcome = ev?.outcome ?? m.outcome;
              return (
                <tr key={m.id} data-machine={m.id} data-outcome={outcome} data-step={ev?.step ?? ''}>
                  <td>
                    <code>{m.id}</code>
                  </td>
                  <td>{m.group}</td>
                  <td>{m.region}</td>
                  <td>
                    <Badge state={outcome} />
                    {(ev?.error ?? m.error) && <div class="error">{ev?.error ?? m.error}</div>}
                  </td>
                  <td>
                    <Progress done={stepsDone(outcome, ev?.step, byId.get(m.id), d.release)} failed={outcome === 'failed'} />
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </Section>
      {s.warnings.length > 0 && (
        <Section title="Warnings" id="warnings">
          <ul>
            {s.warnings.map((w, i) => (
              <li key={i}>{w}</li>
            ))}
          </ul>
        </Section>
      )}
      {s.logs.length > 0 && (
        <Section title="Output" id="output">
          <pre class="output">{s.logs.join('\n')}</pre>
        </Section>
      )}
    </main>
  );
}
