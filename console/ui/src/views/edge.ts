// One edge: its figures over the range, its series over time, and the
// alerts of the rules that watch it.
import { get, type Alerts, type Graph, type Series, type SeriesSet } from '../api';
import { chart, palette, type Line } from '../chart';
import { h, link, replace } from '../dom';
import * as fmt from '../format';
import { alertRows, alertHead } from './alerts';
import { breakerBadge, edgeHead, edgeRows, failure, heading, table } from './common';
import { at, type Ctx } from './context';

export async function edgeView(root: HTMLElement, ctx: Ctx) {
  const v = ctx.route.view;
  if (v.kind !== 'edge') return;
  const { range } = ctx.route;
  const title = `${v.client} → ${v.server}`;
  let g: Graph, set: SeriesSet, alerts: Alerts;
  try {
    [g, set, alerts] = await Promise.all([
      get<Graph>('/api/v1/graph', { ...range, service: v.client, depth: 1 }, ctx.signal),
      get<SeriesSet>('/api/v1/series', { ...range, client: v.client, server: v.server, connection_type: v.conn }, ctx.signal),
      get<Alerts>(`/api/v1/edges/${encodeURIComponent(v.client)}/${encodeURIComponent(v.server)}/alerts`, { connection_type: v.conn }, ctx.signal),
    ]);
  } catch (err) {
    replace(root, heading(title), failure(err));
    ctx.ready();
    return;
  }
  const edges = g.edges.filter((e) => e.client === v.client && e.server === v.server && (v.conn === undefined || (e.connection_type || 'unset') === (v.conn || 'unset')));
  const nav = h('p', { class: 'crumbs' },
    link(at(ctx, { kind: 'service', name: v.client }), v.client), ' → ', link(at(ctx, { kind: 'service', name: v.server }), v.server), ' · ',
    link(at(ctx, { kind: 'map', service: v.client, depth: 1 }), 'on the map'));
  const worst = edges.find((e) => e.breaker_state === 'open')?.breaker_state ?? edges.find((e) => e.breaker_state === 'half_open')?.breaker_state;
  const charts = edgeCharts(set);
  replace(root,
    heading(title, breakerBadge(worst) ?? ''),
    nav,
    edges.length ? table(edgeHead, edgeRows(ctx, edges), { cls: 'edges' }) : h('p', { class: 'empty' }, 'No calls on this edge in this range.'),
    h('h2', {}, 'Rules watching this edge'),
    alerts.configured
      ? table(alertHead, alertRows(ctx, alerts.alerts), { empty: 'No rule has a pending or firing alert about this edge.' })
      : h('p', { class: 'empty' }, 'No rules evaluator is configured (alerts_url).'),
    h('h2', {}, 'Over time'),
    h('div', { class: 'charts' }, ...charts));
  ctx.ready();
}

/** edgeCharts draws the series of one edge (one or more connection types). */
export function edgeCharts(set: SeriesSet): HTMLElement[] {
  const by = (metric: string) => set.series.filter((s) => s.metric === metric);
  const name = (s: Series, what?: string) => [fmt.connection(s.connection_type), what].filter(Boolean).join(' ');
  const lines = (metric: string, what?: string, dash = false, offset = 0): Line[] =>
    by(metric).map((s, i) => ({ label: name(s, what), values: s.values, color: palette[(i + offset) % palette.length], dash }));
  const out = [
    chart('Requests per second', set.times, lines('rate'), 'reqps'),
    chart('Failed requests per second', set.times, lines('errors'), 'reqps'),
    chart('Error share', set.times, lines('error_percent'), 'percent'),
    chart('Latency', set.times, [...lines('p50', 'p50', true, 0), ...lines('p95', 'p95', false, 1), ...lines('p99', 'p99', false, 2)], 'ms'),
  ];
  if (by('delivery_ratio').length) out.push(chart('Delivery ratio (received / sent)', set.times, lines('delivery_ratio'), 'percentunit'));
  out.push(chart('Retries per second', set.times, lines('retries'), 'short'));
  if (by('breaker_state').length) out.push(chart('Breaker state (worst in step)', set.times, lines('breaker_state'), 'breaker', { steps: true, height: 120 }));
  return out;
}
