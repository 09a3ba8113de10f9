// What the map draws, derived from the API's graph: pure functions, tested
// without a browser.
import type { Edge, Graph, Node } from '../api';
import * as fmt from '../format';

/** Link is what the map draws between two nodes: every edge of the graph
 * from client to server (a plain call and the calls an open breaker cut
 * short are two edges of one link). */
export interface Link {
  key: string;
  client: string;
  server: string;
  edges: Edge[];
  rate: number;
  requests: number;
  failed: number;
  errorPercent: number;
  p99: number;
  messaging: boolean;
  deliveryRatio?: number;
  sent?: number;
  received?: number;
  retries: number;
  breaker: '' | 'closed' | 'half_open' | 'open';
  alerts: string[];
}

const breakerRank = { '': 0, closed: 1, half_open: 2, open: 3 } as const;

/** links merges the edges between the same client and server. */
export function links(g: Graph): Link[] {
  const by = new Map<string, Link>();
  for (const e of g.edges) {
    const key = `${e.client}->${e.server}`;
    let l = by.get(key);
    if (!l) {
      l = { key, client: e.client, server: e.server, edges: [], rate: 0, requests: 0, failed: 0, errorPercent: 0, p99: 0,
        messaging: false, retries: 0, breaker: '', alerts: [] };
      by.set(key, l);
    }
    l.edges.push(e);
    l.rate += e.request_rate;
    l.requests += e.requests;
    l.failed += e.failed;
    l.p99 = Math.max(l.p99, e.requests > 0 ? e.p99_ms : 0);
    l.retries += e.retries ?? 0;
    if (e.connection_type === 'messaging_system') {
      l.messaging = true;
      l.sent = (l.sent ?? 0) + (e.messages_sent ?? 0);
      l.received = (l.received ?? 0) + (e.messages_received ?? 0);
      if (e.delivery_ratio !== undefined) l.deliveryRatio = Math.min(l.deliveryRatio ?? Infinity, e.delivery_ratio);
    }
    const b = (e.breaker_state ?? '') as Link['breaker'];
    if (breakerRank[b] > breakerRank[l.breaker]) l.breaker = b;
    for (const a of e.alerts ?? []) if (!l.alerts.includes(a)) l.alerts.push(a);
  }
  for (const l of by.values()) {
    l.errorPercent = l.requests > 0 ? (100 * l.failed) / l.requests : 0;
    l.alerts.sort();
  }
  return [...by.values()].sort((a, b) => a.key.localeCompare(b.key));
}

/** Severity of an error share: what colour a node or link gets. */
export type Severity = 'ok' | 'warn' | 'bad';

export function severity(errorPercent: number): Severity {
  if (errorPercent >= 5) return 'bad';
  if (errorPercent >= 1) return 'warn';
  return 'ok';
}

/** width of a link's stroke: 1.5 to 7 px by the square root of its share
 * of the busiest link's rate, so quiet links stay visible. */
export function width(rate: number, maxRate: number): number {
  if (maxRate <= 0 || rate <= 0) return 1.5;
  return Math.round((1.5 + 5.5 * Math.sqrt(rate / maxRate)) * 10) / 10;
}

/** label of a link: its rate and p99, errors when there are any; a
 * messaging link says sent, received and the delivery ratio. */
export function label(l: Link): string[] {
  const lines: string[] = [];
  if (l.messaging) {
    lines.push(`sent ${fmt.count(l.sent ?? 0)} · recv ${fmt.count(l.received ?? 0)}`);
    if (l.deliveryRatio !== undefined) lines.push(`delivered ${fmt.ratio(l.deliveryRatio)}`);
  } else {
    lines.push(`${fmt.rate(l.rate)} · p99 ${fmt.ms(l.p99)}`);
  }
  const extra: string[] = [];
  if (l.failed > 0) extra.push(`${fmt.percent(l.errorPercent)} err`);
  if (l.retries > 0) extra.push(`${fmt.count(l.retries)} retries`);
  if (extra.length) lines.push(extra.join(' · '));
  return lines;
}

/** labelLines are the lines of a link's label as drawn: a firing alert
 * first. */
export function labelLines(l: Link): string[] {
  const lines = label(l);
  if (l.alerts.length) lines.unshift(`⚠ ${l.alerts.join(', ')}`);
  return lines;
}

/** labelSize is the box a link's label needs (11px text, about 6.2 px a
 * character, 13 px a line). */
export function labelSize(l: Link): { width: number; height: number } {
  const lines = labelLines(l);
  // the alert's line is bold: wider letters
  const px = (t: string, i: number) => t.length * (i === 0 && l.alerts.length ? 7 : 6.2);
  return { width: Math.round(Math.max(...lines.map(px)) + 12), height: lines.length * 13 + 4 };
}

/** nodeLine is the second line of a node: inbound rate and error share. */
export function nodeLine(n: Node): string {
  if (n.requests_in === 0) return n.type === 'user' ? `${fmt.count(n.requests_out)} requests` : 'no inbound calls';
  return `${fmt.rate(n.request_rate)} · ${fmt.percent(n.error_percent)} err`;
}

/** nodeWidth fits the node's name and its figures (13px sans, about 7.4 px
 * a character; on a crowded map, drawn smaller, 16px: about 9.2 px), between
 * 120 and 280 px. */
export function nodeWidth(n: Node, crowdedMap = false): number {
  const chars = Math.max(n.id.length, nodeLine(n).length);
  return Math.min(crowdedMap ? 280 : 240, Math.max(120, Math.round(chars * (crowdedMap ? 9.2 : 7.4)) + 36));
}

/** minScale is the smallest scale the map opens at: below it names are not
 * legible, and the person pans instead (or narrows the map to a
 * neighbourhood). */
export const minScale = 0.55;

/** shorten cuts a name to fit n characters, keeping its end. */
export function shorten(name: string, n: number): string {
  return name.length <= n ? name : `${name.slice(0, n - 1)}…`;
}

/** crowded says whether link labels would cover each other: past 60
 * links they show on hover, on selection, or for links in trouble. */
export function crowded(linkCount: number): boolean {
  return linkCount > 60;
}

/** trouble says whether a link needs a person's eyes: an open or half-open
 * breaker, a firing alert, 5% errors or more, or messages not delivered. */
export function trouble(l: Link): boolean {
  return l.breaker === 'open' || l.breaker === 'half_open' || l.alerts.length > 0 || severity(l.errorPercent) === 'bad' ||
    (l.deliveryRatio !== undefined && l.deliveryRatio < 0.999);
}
