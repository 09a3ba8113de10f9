// The loss ledger: per host, the records its agents accepted against what
// Kafka acknowledged and the collectors stored and dead-lettered, the
// records missing before and after Kafka, and the intervals they went
// missing in (`flowlens ledger`, /api/v1/ledger).
import { get, type Ledger, type LedgerCounts, type LedgerHost, type LedgerInterval } from '../api';
import { h, link, replace } from '../dom';
import * as fmt from '../format';
import { failure, heading, table } from './common';
import { at, type Ctx } from './context';

/** standing is what a host's (or an interval's) counts say: records
 * missing, more stored than reported, or whole. */
export function standing(c: LedgerCounts): 'missing' | 'extra' | 'whole' {
  if (c.missing > 0) return 'missing';
  if (c.extra > 0) return 'extra';
  return 'whole';
}

/** duration writes a length in nanoseconds as a person says it: 2m, 90s. */
export function duration(ns: number): string {
  const s = ns / 1e9;
  if (s > 0 && s % 3600 === 0) return `${s / 3600}h`;
  if (s > 0 && s % 60 === 0) return `${s / 60}m`;
  return fmt.ms(ns / 1e6);
}

/** intervalTime writes an interval's start to the minute, or to the
 * second when it does not start on one. */
export function intervalTime(iv: LedgerInterval): string {
  const t = fmt.time(iv.start).slice(0, 19);
  return t.endsWith(':00') ? t.slice(0, 16) : t;
}

/** explain says what an interval's counts mean, as `flowlens ledger` does. */
export function explain(iv: LedgerInterval): string {
  if (!iv.closed) return 'open: not judged yet';
  if (!iv.reported) return `${fmt.count(iv.extra)} stored without an agent report (its agent crashed before reporting, or runs without the ledger)`;
  const why: string[] = [];
  if (iv.lost_before_kafka > 0) why.push(`${fmt.count(iv.lost_before_kafka)} lost before Kafka (the agent's buffer)`);
  if (iv.lost_after_kafka > 0) why.push(`${fmt.count(iv.lost_after_kafka)} lost after Kafka (acknowledged, never stored)`);
  if (iv.missing > 0 && why.length === 0) why.push(`${fmt.count(iv.missing)} missing`);
  if (iv.extra > 0) why.push(`${fmt.count(iv.extra)} extra (sent again after an agent restart, or its last counts lost)`);
  if (iv.runs && iv.runs > 1) why.push(`reported by ${iv.runs} agent runs`);
  return why.length ? why.join('; ') : 'whole';
}

/** listed are the intervals the view lists, hosts in order, oldest first:
 * every one when all, else the closed ones with records missing or extra. */
export function listed(hosts: LedgerHost[], all: boolean): { host: string; iv: LedgerInterval }[] {
  return hosts.flatMap((host) =>
    host.intervals.filter((iv) => all || (iv.closed && standing(iv) !== 'whole')).map((iv) => ({ host: host.name, iv })));
}

/** missingCell is a count of missing records, marked when there are any. */
function missingCell(n: number): Node | string {
  return n > 0 ? h('span', { class: 'bad' }, `${fmt.count(n)} ✗`) : '0';
}

export async function ledgerView(root: HTMLElement, ctx: Ctx) {
  const v = ctx.route.view;
  if (v.kind !== 'ledger') return;
  const host = h('input', { name: 'host', value: v.host ?? '', placeholder: 'every host', size: 16 });
  const all = h('input', { type: 'checkbox', name: 'intervals', checked: v.all ?? false });
  const form = h('form', { class: 'filters search', role: 'search' },
    h('label', {}, 'host', host), h('label', {}, all, 'every interval'), h('button', { type: 'submit' }, 'show'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    ctx.navigate(at(ctx, { kind: 'ledger', host: host.value.trim() || undefined, all: all.checked || undefined }));
  });
  const head = heading('Loss ledger');
  let rep: Ledger;
  try {
    rep = await get<Ledger>('/api/v1/ledger', { ...ctx.route.range, host: v.host }, ctx.signal);
  } catch (err) {
    replace(root, head, form, failure(err));
    ctx.ready();
    return;
  }
  const grace = duration(rep.grace_ns);
  const summary = h('p', { class: 'summary' },
    `Per host, the records its agents accepted in the intervals starting ${fmt.time(rep.from).slice(0, 16)} to ${fmt.time(rep.to).slice(0, 16)}, `,
    `against what Kafka acknowledged and the collectors stored and dead-lettered. An interval is judged ${grace} after its end; `,
    'the figures sum the judged ones. Lost before Kafka: accepted, never acknowledged (the agent\'s buffer); lost after Kafka: acknowledged, neither stored nor dead-lettered.');
  if (rep.hosts.length === 0) {
    replace(root, head, form, summary,
      h('p', { class: 'empty' }, 'No ledger in this range: agents with ledger.enabled send it, and flowlens migrate creates its tables.'));
    ctx.ready();
    return;
  }
  const losing = rep.hosts.filter((x) => x.closed.missing > 0);
  const banner = losing.length
    ? h('div', { class: 'notice notice-warning ledger-banner', role: 'alert' },
      `${fmt.count(rep.missing)} records missing on ${losing.length === 1 ? 'host' : `${losing.length} hosts`} ${losing.map((x) => x.name).join(', ')}.`)
    : h('div', { class: 'notice notice-info ledger-banner', role: 'status' }, `No record missing on ${rep.hosts.length === 1 ? 'its host' : `any of its ${rep.hosts.length} hosts`}.`);
  const hostRows = rep.hosts.map((x) => {
    const c = x.closed;
    return [
      link(at(ctx, { kind: 'ledger', host: x.name, all: true }), x.name),
      fmt.count(c.accepted), fmt.count(c.acked), fmt.count(c.dropped), fmt.count(c.stored), fmt.count(c.dead_lettered),
      missingCell(c.missing), missingCell(c.lost_before_kafka), missingCell(c.lost_after_kafka),
      c.extra > 0 ? h('span', { class: 'warn' }, fmt.count(c.extra)) : '0',
      String(x.open_intervals),
    ];
  });
  const intervals = listed(rep.hosts, v.all ?? false);
  const ivRows = intervals.map(({ host: name, iv }) => [
    name,
    h('time', { datetime: iv.start }, intervalTime(iv)),
    iv.kind,
    iv.reported ? fmt.count(iv.accepted) : '–',
    iv.reported ? fmt.count(iv.acked) : '–',
    fmt.count(iv.stored),
    fmt.count(iv.dead_lettered),
    iv.closed ? missingCell(iv.missing) : '–',
    explain(iv),
  ]);
  replace(root, head, form, summary, banner,
    table(['host', 'accepted', 'acked by Kafka', 'dropped', 'stored', 'dead-lettered', 'missing', 'lost before Kafka', 'lost after Kafka', 'extra', 'open intervals'],
      hostRows, { cls: 'ledger', rowCls: (i) => `standing-${standing(rep.hosts[i].closed)}` }),
    h('h2', {}, v.all ? `Intervals (${intervals.length})` : `Intervals with records missing or extra (${intervals.length})`),
    table(['host', 'interval', 'kind', 'accepted', 'acked', 'stored', 'dead-lettered', 'missing', 'what it says'], ivRows,
      { cls: 'ledger-intervals', empty: 'Every judged interval is whole.', rowCls: (i) => (intervals[i].iv.closed ? `standing-${standing(intervals[i].iv)}` : 'open') }),
    v.all ? null : h('p', { class: 'hint' }, link(at(ctx, { kind: 'ledger', host: v.host, all: true }), 'every interval')));
  ctx.ready();
}
