// Time series charts with uPlot: small, fast canvas charts.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { h } from './dom';
import * as fmt from './format';

export interface Line {
  label: string;
  values: (number | null)[];
  color: string;
  dash?: boolean;
}

/** axisFormat formats values of a unit on an axis and in the legend. */
export function axisFormat(unit: string): (v: number | null) => string {
  return (v) => {
    if (v === null || v === undefined) return '–';
    switch (unit) {
      case 'reqps':
      case 'short':
        return fmt.rate(v);
      case 'percent':
        return fmt.percent(v);
      case 'percentunit':
        return fmt.ratio(v);
      case 'ms':
        return fmt.ms(v);
      case 'breaker':
        return ['closed', 'half-open', 'open'][Math.round(v)] ?? '';
    }
    return String(v);
  };
}

export const palette = ['#2f6fdb', '#d9480f', '#2b8a3e', '#9c36b5', '#e8590c', '#0b7285', '#5c940d', '#c2255c'];

/** chart draws lines over times (ISO strings) in a titled box; it sizes
 * itself to its box and follows its width. */
export function chart(title: string, times: string[], lines: Line[], unit: string, opts: { height?: number; steps?: boolean } = {}): HTMLElement {
  const box = h('div', { class: 'chart' });
  const wrap = h('figure', { class: 'chart-box', 'data-chart': title }, h('figcaption', {}, title), box);
  if (lines.length === 0) {
    box.append(h('p', { class: 'empty' }, 'no data in this range'));
    return wrap;
  }
  const xs = times.map((t) => new Date(t).getTime() / 1000);
  // a series of a few values has no line to speak of: show its points
  const sparse = Math.max(...lines.map((l) => l.values.filter((v) => v !== null).length)) <= 12;
  const format = axisFormat(unit);
  let plot: uPlot | null = null;
  const make = () => {
    const width = Math.max(240, box.clientWidth);
    plot = new uPlot(
      {
        width,
        height: opts.height ?? 180,
        legend: { show: true, live: true },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true }, y: unit === 'breaker' ? { range: [0, 2] } : { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
        axes: [
          { stroke: '#5f6b7a', grid: { stroke: '#eef0f3' } },
          { stroke: '#5f6b7a', grid: { stroke: '#eef0f3' }, size: unit === 'breaker' ? 80 : 64, values: (_u, vals) => vals.map((v) => format(v)), ...(unit === 'breaker' ? { splits: () => [0, 1, 2] } : {}) },
        ],
        series: [
          {},
          ...lines.map((l) => ({
            label: l.label,
            stroke: l.color,
            width: 1.6,
            dash: l.dash ? [5, 4] : undefined,
            spanGaps: false,
            points: { show: sparse, size: 6 },
            value: (_u: uPlot, v: number | null) => format(v),
            paths: opts.steps ? uPlot.paths.stepped!({ align: 1 }) : undefined,
          })),
        ],
      },
      [xs, ...lines.map((l) => l.values)] as uPlot.AlignedData,
      box,
    );
  };
  const ro = new ResizeObserver(() => {
    if (!box.isConnected) return;
    if (!plot) make();
    else if (Math.abs(plot.width - box.clientWidth) > 4) plot.setSize({ width: Math.max(240, box.clientWidth), height: plot.height });
  });
  ro.observe(box);
  return wrap;
}
