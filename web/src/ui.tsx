import type { ComponentChildren } from 'preact';
import { useLayoutEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api.js';
import { onLinkClick } from './router.js';

export function Link(p: { href: string; children: ComponentChildren; class?: string }) {
  return (
    <a href={p.href} class={p.class} onClick={onLinkClick}>
      {p.children}
    </a>
  );
}

const TONES: Record<string, string> = {
  started: 'good',
  passing: 'good',
  complete: 'good',
  updated: 'good',
  created: 'good',
  ready: 'good',
  running: 'busy',
  updating: 'busy',
  starting: 'busy',
  stopping: 'busy',
  pending: 'quiet',
  warning: 'warn',
  draining: 'warn',
  interrupted: 'warn',
  stopped: 'quiet',
  untouched: 'quiet',
  destroyed: 'quiet',
  failed: 'bad',
  critical: 'bad',
  rolled_back: 'warn',
  down: 'bad',
};

/** A state word with its colour (and the word itself, so colour is never the only signal). */
export function Badge(p: { state: string; title?: string }) {
  return (
    <span class={`badge ${TONES[p.state] ?? 'quiet'}`} title={p.title}>
      {p.state}
    </span>
  );
}

export function ago(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

export function Ago(p: { at: string }) {
  return <time dateTime={p.at} title={new Date(p.at).toLocaleString()}>{ago(p.at)}</time>;
}

/** An error as one line (with its hint). */
export function ErrorLine(p: { error: unknown }) {
  if (!p.error) return null;
  const text = p.error instanceof ApiError ? p.error.line() : String((p.error as Error).message ?? p.error);
  return (
    <p class="error" role="alert">
      {text}
    </p>
  );
}

/**
 * A button that asks before it acts: the first press shows what will happen with Confirm and Cancel;
 * the action's error, if any, shows under it.
 */
export function ConfirmButton(p: { label: string; question: string; action: () => Promise<unknown>; class?: string; testId?: string }) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const confirm = useRef<HTMLButtonElement>(null);
  // The question takes the focus, so that a keyboard user answers it where they are: in the same
  // commit that shows it (a layout effect), so a key pressed right after it appears reaches it.
  useLayoutEffect(() => {
    if (asking) confirm.current?.focus();
  }, [asking]);
  const run = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await p.action();
      setAsking(false);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <span class="confirm">
      {asking ? (
        <span role="group" aria-label={p.question}>
          <span class="question">{p.question}</span>{' '}
          <button type="button" class="danger" ref={confirm} disabled={busy} onClick={run} data-testid={p.testId && `${p.testId}-confirm`}>
            Confirm
          </button>{' '}
          <button type="button" disabled={busy} onClick={() => setAsking(false)}>
            Cancel
          </button>
        </span>
      ) : (
        <button type="button" class={p.class} onClick={() => setAsking(true)} data-testid={p.testId}>
          {p.label}
        </button>
      )}
      <ErrorLine error={error} />
    </span>
  );
}

/** A button whose action's error shows beside it. */
export function ActionButton(p: { label: string; action: () => Promise<unknown>; class?: string; disabled?: boolean; testId?: string }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  return (
    <span class="action">
      <button
        type="button"
        class={p.class}
        disabled={busy || p.disabled}
        data-testid={p.testId}
        onClick={async () => {
          setBusy(true);
          setError(undefined);
          try {
            await p.action();
          } catch (err) {
            setError(err);
          } finally {
            setBusy(false);
          }
        }}
      >
        {p.label}
      </button>
      <ErrorLine error={error} />
    </span>
  );
}

export function Section(p: { title: string; children: ComponentChildren; id?: string }) {
  return (
    <section id={p.id} aria-labelledby={p.id && `${p.id}-title`}>
      <h2 id={p.id && `${p.id}-title`}>{p.title}</h2>
      {p.children}
    </section>
  );
}

/** A table's header row. */
export function THead(p: { cols: string[] }) {
  return (
    <thead>
      <tr>
        {p.cols.map((c, i) => (
          <th key={i} scope="col">
            {c}
          </th>
        ))}
      </tr>
    </thead>
  );
}
