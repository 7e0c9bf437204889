/// <reference types="uplot" />
import { useEffect, useRef } from 'preact/hooks';

export interface SeriesSpec {
  label: string;
  color: string;
  /** Drawn dashed (the stable set, against which the canary is judged). */
  dashed?: boolean;
}

/** x values first, then one array per series (null: no value there). */
export type ChartData = [number[], ...Array<Array<number | null>>];

/**
 * A uPlot line chart that follows its container's width. `time` says the x values are Unix seconds;
 * otherwise they are plain numbers (decision steps).
 */
export function Chart(p: { title: string; series: SeriesSpec[]; data: ChartData; time?: boolean; unit?: string; height?: number; testId?: string }) {
  const el = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | undefined>(undefined);
  const key = p.series.map((s) => s.label).join('|');
  useEffect(() => {
    const box = el.current!;
    const unit = p.unit ?? '';
    const u = new uPlot(
      {
        title: p.title,
        width: Math.max(200, box.clientWidth),
        height: p.height ?? 180,
        scales: { x: { time: p.time ?? false } },
        axes: [p.time ? {} : { incrs: [1, 2, 5, 10, 20, 50], values: (_u, ticks) => ticks.map((t) => String(t)) }, { values: (_u, ticks) => ticks.map((t) => `${+t.toFixed(3)}${unit}`), size: 60 }],
        series: [{ label: p.time ? 'time' : 'step' }, ...p.series.map((s) => ({ label: s.label, stroke: s.color, width: 2, dash: s.dashed ? [6, 4] : undefined, spanGaps: false, points: { show: true, size: p.time ? 3 : 6 } }))],
      },
      p.data as uPlot.AlignedData,
      box,
    );
    plot.current = u;
    const ro = new ResizeObserver(() => u.setSize({ width: Math.max(200, box.clientWidth), height: p.height ?? 180 }));
    ro.observe(box);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = undefined;
    };
  }, [key, p.time]);
  useEffect(() => {
    plot.current?.setData(p.data as uPlot.AlignedData);
  }, [p.data]);
  return <div class="chart" ref={el} data-testid={p.testId} role="img" aria-label={p.title} />;
}
