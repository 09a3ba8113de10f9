// Pieces several views share: headings, tables, errors, notices.
import { ApiError, type Edge, type LogRecord, type Notice } from '../api';
import { h, link } from '../dom';
import * as fmt from '../format';
import type { Ctx } from './context';
import { at } from './context';

export function heading(title: string, ...rest: (Node | string)[]): HTMLElement {
  return h('header', { class: 'view-head' }, h('h1', {}, title), ...rest);
}

export function failure(err: unknown): HTMLElement {
  const msg = err instanceof ApiError ? err.message : String(err);
  return h('div', { class: 'error', role: 'alert' }, msg);
}

export function notices(list: Notice[] = []): HTMLElement[] {
  return list.map((n) => h('div', { class: `notice notice-${n.severity}`, role: n.severity === 'warning' ? 'alert' : 'status' }, n.text));
}

export function loading(): HTMLElement {
  return h('p', { class: 'loading' }, 'loading…');
}

/** table builds a table; rows are cells, rowCls a class for a row (one
 * that needs eyes). */
export function table(head: string[], rows: (Node | string)[][], opts: { cls?: string; empty?: string; rowCls?: (i: number) => string | undefined } = {}): HTMLElement {
  if (rows.length === 0) return h('p', { class: 'empty' }, opts.empty ?? 'nothing');
  return h('table', { class: opts.cls ?? '' },
    h('thead', {}, h('tr', {}, ...head.map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, ...rows.map((r, i) => h('tr', { class: opts.rowCls?.(i) }, ...r.map((c) => h('td', {}, c))))));
}

export function breakerBadge(state?: string): HTMLElement | null {
  if (!state) return null;
  return h('span', { class: `pill breaker-${state}` }, state === 'open' ? 'BREAKER OPEN' : `breaker ${fmt.breaker(state)}`);
}

/** edgeRows are the rows of an edge table: the edge's page, its figures. */
export function edgeRows(ctx: Ctx, edges: Edge[]): (Node | string)[][] {
  return edges.map((e) => [
    link(at(ctx, { kind: 'edge', client: e.client, server: e.server, conn: e.connection_type || undefined }), `${e.client} → ${e.server}`),
    fmt.connection(e.connection_type),
    fmt.rate(e.request_rate),
    h('span', { class: e.error_percent >= 5 ? 'bad' : e.error_percent >= 1 ? 'warn' : '' }, fmt.percent(e.error_percent)),
    fmt.ms(e.p99_ms),
    e.delivery_ratio !== undefined ? fmt.ratio(e.delivery_ratio) : '–',
    String(e.retries ?? 0),
    breakerBadge(e.breaker_state) ?? '–',
    e.alerts?.length ? h('span', { class: 'pill firing' }, e.alerts.join(', ')) : '',
  ]);
}

export const edgeHead = ['edge', 'type', 'rate', 'errors', 'p99', 'delivered', 'retries', 'breaker', 'alerts'];

export function severityOf(l: LogRecord): string {
  return (l.severity_text || '').toLowerCase() || 'info';
}

/** logRows are rows of a log table; each record with a trace links to it. */
export function logRows(ctx: Ctx, logs: LogRecord[]): (Node | string)[][] {
  return logs.map((l) => [
    h('time', { datetime: l.timestamp }, fmt.time(l.timestamp)),
    h('span', { class: `sev sev-${severityOf(l)}` }, severityOf(l)),
    link(at(ctx, { kind: 'service', name: l.service_name }), l.service_name),
    h('span', { class: 'body' }, l.body),
    l.trace_id ? link(at(ctx, { kind: 'trace', id: l.trace_id, span: l.span_id || undefined }), h('code', {}, l.trace_id.slice(0, 12) + '…')) : '–',
  ]);
}

export const logHead = ['time', 'severity', 'service', 'message', 'trace'];
