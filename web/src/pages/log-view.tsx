import { useEffect, useRef, useState } from 'preact/hooks';
import type { LogLine } from '../types.js';

/** Rows are one line high, so the view only ever puts the visible ones in the page. */
const ROW_PX = 20;
const OVERSCAN = 20;

const text = (l: LogLine) => `${l.timestamp.slice(11, 23)} ${l.source}${l.machine_id ? `[${l.machine_id}]` : ''}${l.region ? ` ${l.region}` : ''}${l.host ? ` @${l.host}` : ''} ${l.level === 'info' ? '' : `${l.level} `}${l.message}`;

/**
 * A scrolling list of log lines that stays fast with many thousands of them: only the rows in view
 * (plus a margin) exist in the page. It sticks to the bottom as lines arrive unless `paused`, or the
 * reader scrolled up (which pauses it through `onScrolledUp`).
 */
export function LogView(p: { lines: LogLine[]; version: number; paused: boolean; onScrolledUp: () => void }) {
  const box = useRef<HTMLDivElement>(null);
  const [top, setTop] = useState(0);
  const [height, setHeight] = useState(400);
  useEffect(() => {
    const el = box.current!;
    const ro = new ResizeObserver(() => setHeight(el.clientHeight));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  useEffect(() => {
    const el = box.current!;
    if (!p.paused) el.scrollTop = el.scrollHeight;
  }, [p.version, p.paused]);
  const first = Math.max(0, Math.floor(top / ROW_PX) - OVERSCAN);
  const last = Math.min(p.lines.length, Math.ceil((top + height) / ROW_PX) + OVERSCAN);
  return (
    <div
      class="logview"
      ref={box}
      tabIndex={0}
      role="log"
      aria-label="log lines"
      data-testid="logview"
      data-lines={p.lines.length}
      onScroll={(e) => {
        const el = e.currentTarget as HTMLDivElement;
        setTop(el.scrollTop);
        if (!p.paused && el.scrollTop + el.clientHeight < el.scrollHeight - ROW_PX * 2) p.onScrolledUp();
      }}
    >
      <div style={{ height: `${p.lines.length * ROW_PX}px`, position: 'relative' }}>
        {p.lines.slice(first, last).map((l, i) => (
          <div key={first + i} class={`logline ${l.level}`} style={{ top: `${(first + i) * ROW_PX}px` }}>
            {text(l)}
          </div>
        ))}
      </div>
    </div>
  );
}
