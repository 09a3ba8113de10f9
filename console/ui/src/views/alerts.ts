// Alerts: the rules evaluator's pending and firing flow alerts, the flow
// each watches and since when.
import { get, type Alert, type Alerts } from '../api';
import { h, link, replace } from '../dom';
import * as fmt from '../format';
import { failure, heading, table } from './common';
import { at, type Ctx } from './context';

export const alertHead = ['state', 'alert', 'flow', 'value', 'since', 'summary'];

/** flowOf links the flow an alert's labels name: an edge, a breaker's
 * edge, or a queue's destination. */
export function flowOf(ctx: Ctx, l: Record<string, string>): Node | string {
  if (l.client && l.server) return link(at(ctx, { kind: 'edge', client: l.client, server: l.server, conn: l.connection_type }), `${l.client} → ${l.server}`);
  if (l.service && l.target) return link(at(ctx, { kind: 'edge', client: l.service, server: l.target }), `${l.service} → ${l.target} (breaker)`);
  if (l.destination) return link(at(ctx, { kind: 'map', service: l.destination, depth: 1 }), `messages to ${l.destination}`);
  return Object.entries(l).filter(([k]) => k !== 'alertname').map(([k, v]) => `${k}=${v}`).join(' ') || 'every flow';
}

export function alertRows(ctx: Ctx, alerts: Alert[]): (Node | string)[][] {
  return alerts.map((a) => [
    h('span', { class: `pill state-${a.state}` }, a.state),
    a.expr ? h('span', {}, h('strong', {}, a.name), h('code', { class: 'expr' }, a.expr)) : h('strong', {}, a.name),
    flowOf(ctx, a.labels),
    String(Number(a.value.toPrecision(4))),
    h('span', { title: fmt.time(a.activeAt) }, fmt.ago(a.activeAt)),
    a.annotations?.summary ?? '',
  ]);
}

export async function alertsView(root: HTMLElement, ctx: Ctx) {
  const v = ctx.route.view;
  if (v.kind !== 'alerts') return;
  const tabs = h('nav', { class: 'tabs', 'aria-label': 'alert state' },
    ...[undefined, 'firing', 'pending', 'resolved'].map((s) => link(at(ctx, { kind: 'alerts', state: s }), s ?? 'all')));
  tabs.querySelectorAll('a')[['firing', 'pending', 'resolved'].indexOf(v.state ?? '') + 1]?.setAttribute('aria-current', 'page');
  try {
    const a = await get<Alerts>('/api/v1/alerts', { state: v.state }, ctx.signal);
    replace(root, heading('Alerts'), tabs,
      a.configured
        ? table(alertHead, alertRows(ctx, a.alerts), { cls: 'alerts', empty: 'No alert. Every flow rule is quiet.' })
        : h('p', { class: 'empty' }, 'No rules evaluator is configured: start flowlens up with --rules, or give flowlens console --alerts-url.'));
  } catch (err) {
    replace(root, heading('Alerts'), tabs, failure(err));
  }
  ctx.ready();
}
