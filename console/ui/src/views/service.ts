// One service: its inbound and outbound edges, rate, errors and latency
// over time, recent traces, its logs and its interface.
import { get, type Graph, type LogRecord, type SeriesSet, type ServiceInterface, type TraceHit } from '../api';
import { chart, palette, type Line } from '../chart';
import { h, link, replace } from '../dom';
import * as fmt from '../format';
import { edgeHead, edgeRows, failure, heading, logHead, logRows, table } from './common';
import { at, type Ctx } from './context';
import { traceHead, traceRows } from './traces';

export async function serviceView(root: HTMLElement, ctx: Ctx) {
  const v = ctx.route.view;
  if (v.kind !== 'service') return;
  const { range } = ctx.route;
  let g: Graph, set: SeriesSet, iface: ServiceInterface, traces: TraceHit[], logs: LogRecord[];
  try {
    [g, set, iface, traces, logs] = await Promise.all([
      get<Graph>('/api/v1/graph', { ...range, service: v.name, depth: 1 }, ctx.signal),
      get<SeriesSet>('/api/v1/series', { ...range, service: v.name }, ctx.signal),
      get<ServiceInterface>(`/api/v1/services/${encodeURIComponent(v.name)}/interface`, range, ctx.signal),
      get<TraceHit[]>('/api/v1/traces', { ...range, service: v.name, limit: 300 }, ctx.signal).then((hits) => hits.slice(0, 15)),
      get<LogRecord[]>('/api/v1/logs', { ...range, service: v.name, limit: 30 }, ctx.signal),
    ]);
  } catch (err) {
    replace(root, heading(v.name), failure(err));
    ctx.ready();
    return;
  }
  const node = g.nodes.find((n) => n.id === v.name);
  const inbound = g.edges.filter((e) => e.server === v.name);
  const outbound = g.edges.filter((e) => e.client === v.name);
  const sum = (metric: string, side: 'client' | 'server') => {
    const ss = set.series.filter((s) => s.metric === metric && s[side] === v.name);
    if (!ss.length) return [];
    return [set.times.map((_, i) => ss.reduce((acc, s) => acc + (s.values[i] ?? 0), 0))];
  };
  const inLines = (metric: string, label: string, color: string): Line[] => sum(metric, 'server').map((values) => ({ label, values, color }));
  const outLines = (metric: string, label: string, color: string): Line[] => sum(metric, 'client').map((values) => ({ label, values, color, dash: true }));
  const p99 = set.series.filter((s) => s.metric === 'p99' && s.server === v.name)
    .map((s, i): Line => ({ label: `from ${s.client}${s.connection_type !== 'unset' ? ` (${fmt.connection(s.connection_type)})` : ''}`, values: s.values, color: palette[i % palette.length] }));
  replace(root,
    heading(v.name, h('span', { class: 'kind' }, node?.type ?? 'service')),
    h('p', { class: 'crumbs' },
      node ? `${fmt.rate(node.request_rate)} in · ${fmt.percent(node.error_percent)} errors · ${fmt.count(node.requests_out)} calls out · ` : 'no calls in this range · ',
      link(at(ctx, { kind: 'map', service: v.name, depth: 1 }), 'neighbourhood on the map'), ' · ',
      link(at(ctx, { kind: 'traces', filters: { service: v.name }, attrs: [] }), 'search its traces'), ' · ',
      link(at(ctx, { kind: 'logs', filters: { service: v.name }, follow: false }), 'its logs'), ' · ',
      link(at(ctx, { kind: 'catalog', name: v.name }), 'its catalog entry')),
    h('div', { class: 'charts' },
      chart('Requests per second', set.times, [...inLines('rate', 'in', palette[0]), ...outLines('rate', 'out', palette[1])], 'reqps'),
      chart('Failed requests per second', set.times, [...inLines('errors', 'in', palette[3]), ...outLines('errors', 'out', palette[4])], 'reqps'),
      chart('p99 latency of calls in', set.times, p99, 'ms')),
    h('h2', {}, 'Called by'),
    table(edgeHead, edgeRows(ctx, inbound), { cls: 'edges', empty: 'nothing calls it in this range' }),
    h('h2', {}, 'Calls'),
    table(edgeHead, edgeRows(ctx, outbound), { cls: 'edges', empty: 'it calls nothing in this range' }),
    h('h2', {}, 'Interface'),
    h('div', { class: 'interface' },
      h('section', {}, h('h3', {}, 'operations'), iface.operations.length
        ? h('ul', { class: 'ops' }, ...iface.operations.map((o) => h('li', {}, link(at(ctx, { kind: 'traces', filters: { service: v.name, operation: o }, attrs: [] }), o))))
        : h('p', { class: 'empty' }, 'no spans in this range')),
      h('section', {}, h('h3', {}, 'topics'), iface.topics.length
        ? table(['topic', 'system', 'role'], iface.topics.map((t) => [t.name, t.system ?? '', [t.sends ? 'sends' : '', t.receives ? 'receives' : ''].filter(Boolean).join(', ')]))
        : h('p', { class: 'empty' }, 'sends and receives no messages'))),
    h('h2', {}, 'Recent traces'),
    table(traceHead, traceRows(ctx, traces), { cls: 'traces', empty: 'no traces in this range' }),
    h('h2', {}, 'Logs'),
    table(logHead, logRows(ctx, logs), { cls: 'logs', empty: 'no logs in this range' }));
  ctx.ready();
}
