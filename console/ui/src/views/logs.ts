// Log search and follow (live tail by polling): each record links to its
// trace.
import { get, type LogRecord } from '../api';
import { h, replace } from '../dom';
import { failure, heading, logHead, logRows, table } from './common';
import { at, type Ctx } from './context';

/** followEvery is how often follow asks for new records. */
export const followEvery = 2000;

/** newer keeps the records of fresh not in seen (by time, service, span and
 * body: a poll's range overlaps the last one's newest instant). */
export function newer(fresh: LogRecord[], seen: Set<string>): LogRecord[] {
  const out: LogRecord[] = [];
  for (const l of fresh) {
    const k = `${l.timestamp}|${l.service_name}|${l.span_id ?? ''}|${l.body}`;
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(l);
  }
  return out;
}

export async function logsView(root: HTMLElement, ctx: Ctx) {
  const v = ctx.route.view;
  if (v.kind !== 'logs') return;
  const f = v.filters;
  const input = (name: string, label: string, placeholder: string, size = 14) =>
    h('label', {}, label, h('input', { name, value: f[name] ?? '', placeholder, size }));
  const sev = h('select', { name: 'severity' }, ...['', 'debug', 'info', 'warn', 'error', 'fatal'].map((s) => h('option', { value: s, selected: (f.severity ?? '') === s }, s ? `${s} and above` : 'any severity')));
  const follow = h('input', { type: 'checkbox', name: 'follow', checked: v.follow });
  const form = h('form', { class: 'filters search', role: 'search' },
    input('service', 'service', 'any'), h('label', {}, 'severity', sev), input('contains', 'contains', 'text', 20), input('trace_id', 'trace', '32 hex digits', 20),
    h('label', { class: 'follow' }, follow, 'follow'), h('button', { type: 'submit' }, 'search'));
  const go = () => {
    const data = new FormData(form);
    const filters: Record<string, string> = {};
    for (const k of ['service', 'severity', 'contains', 'trace_id']) {
      const val = String(data.get(k) ?? '').trim();
      if (val) filters[k] = val;
    }
    ctx.navigate(at(ctx, { kind: 'logs', filters, follow: follow.checked }));
  };
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    go();
  });
  follow.addEventListener('change', go);
  const status = h('p', { class: 'summary', role: 'status' });
  const results = h('div', {});
  replace(root, heading('Logs'), form, status, results);
  const limit = Number(f.limit ?? 200);
  const seen = new Set<string>();
  let shown: LogRecord[] = [];
  try {
    shown = newer(await get<LogRecord[]>('/api/v1/logs', { ...ctx.route.range, ...f, limit }, ctx.signal), seen);
  } catch (err) {
    replace(results, failure(err));
    ctx.ready();
    return;
  }
  const draw = () => replace(results, table(logHead, logRows(ctx, shown), { cls: 'logs', empty: 'No log record matches in this range.' }));
  draw();
  status.textContent = `${shown.length} records${v.follow ? ' · following: new records appear on top' : ''}`;
  ctx.ready();
  if (!v.follow) return;
  // follow: ask for what is newer than the newest shown, every followEvery
  let since = shown[0]?.timestamp ?? new Date().toISOString();
  const timer = setInterval(async () => {
    try {
      const fresh = newer(await get<LogRecord[]>('/api/v1/logs', { ...f, from: since, to: 'now', limit }, ctx.signal), seen);
      if (fresh.length === 0) return;
      since = fresh[0].timestamp;
      shown = [...fresh, ...shown].slice(0, 1000);
      draw();
      status.textContent = `${shown.length} records · following: new records appear on top`;
    } catch {
      // the next poll tries again; an aborted view stops the timer
    }
  }, followEvery);
  ctx.onCleanup(() => clearInterval(timer));
}
