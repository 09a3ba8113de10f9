// One edge: its figures over the range, its series over time, and the
// alerts of the rules that watch it.
import { get, type EdgeRules, type Graph, type Series, type SeriesSet, type WatchingRule } from '../api';
import { chart, palette, type Line } from '../chart';
import { h, link, replace } from '../dom';
import * as fmt from '../format';
import { breakerBadge, edgeHead, edgeRows, failure, heading, table } from './common';
import { at, type Ctx } from './context';

export async function edgeView(root: HTMLElement, ctx: Ctx) {
  const v = ctx.route.view;
  if (v.kind !== 'edge') return;
  const { range } = ctx.route;
  const title = `${v.client} → ${v.server}`;
  let g: Graph, set: SeriesSet, rules: EdgeRules;
  try {
    [g, set, rules] = await Promise.all([
      get<Graph>('/api/v1/graph', { ...range, service: v.client, depth: 1 }, ctx.signal),
      get<SeriesSet>('/api/v1/series', { ...range, client: v.client, server: v.server, connection_type: v.conn }, ctx.signal),
      get<EdgeRules>(`/api/v1/edges/${encodeURIComponent(v.client)}/${encodeURIComponent(v.server)}/rules`, { connection_type: v.conn }, ctx.signal),
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
    rules.configured
      ? table(['rule', 'watches', 'state', 'for', 'alerts about this edge'], ruleRows(rules.rules), { cls: 'rules', empty: 'No rule watches this edge.' })
      : h('p', { class: 'empty' }, 'No rules evaluator is configured (alerts_url).'),
    h('h2', {}, 'Over time'),
    h('div', { class: 'charts' }, ...charts));
  ctx.ready();
}

function ruleRows(rules: WatchingRule[]): (Node | string)[][] {
  return rules.map((r) => {
    const firing = r.alerts.find((a) => a.state === 'firing') ?? r.alerts.find((a) => a.state === 'pending');
    return [
      h('span', {}, h('strong', {}, r.name), h('code', { class: 'expr' }, r.expr)),
      r.scope === 'edge' ? 'this edge' : 'every flow it selects',
      h('span', { class: `pill state-${firing?.state ?? 'inactive'}` }, firing?.state ?? (r.health === 'err' ? 'error' : 'quiet')),
      r.for ?? '',
      r.alerts.length ? r.alerts.map((a) => `${a.state} since ${fmt.ago(a.activeAt)}, value ${Number(a.value.toPrecision(4))}`).join('; ') : '–',
    ];
  });
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
