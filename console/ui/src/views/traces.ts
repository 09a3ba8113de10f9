// Trace search: service, operation, duration, status, attributes, time.
import { get, type TraceHit } from '../api';
import { h, link, replace } from '../dom';
import * as fmt from '../format';
import { failure, heading, table } from './common';
import { at, type Ctx } from './context';

export const traceHead = ['start', 'service', 'operation', 'duration', 'status', 'trace'];

export function traceRows(ctx: Ctx, hits: TraceHit[]): (Node | string)[][] {
  const longest = Math.max(1, ...hits.map((t) => t.duration_ns));
  return hits.map((t) => [
    h('time', { datetime: t.start }, fmt.time(t.start)),
    t.service,
    t.operation,
    h('span', { class: 'dur' }, h('span', { class: 'dur-bar', 'data-w': Math.round((100 * t.duration_ns) / longest) }), fmt.ns(t.duration_ns)),
    h('span', { class: `status status-${t.status.toLowerCase()}` }, t.status),
    link(at(ctx, { kind: 'trace', id: t.trace_id }), h('code', {}, t.trace_id)),
  ]);
}

/** sizeBars gives duration bars their width: CSP forbids inline styles in
 * markup, so the widths are set through the CSSOM. */
export function sizeBars(root: HTMLElement) {
  root.querySelectorAll<HTMLElement>('.dur-bar').forEach((b) => (b.style.width = `${b.dataset.w}%`));
}

export async function tracesView(root: HTMLElement, ctx: Ctx) {
  const v = ctx.route.view;
  if (v.kind !== 'traces') return;
  const f = v.filters;
  const input = (name: string, label: string, placeholder: string, size = 14) =>
    h('label', {}, label, h('input', { name, value: f[name] ?? '', placeholder, size }));
  const status = h('select', { name: 'status' }, ...['', 'ok', 'error', 'unset'].map((s) => h('option', { value: s, selected: (f.status ?? '') === s }, s || 'any status')));
  const order = h('select', { name: 'order' }, h('option', { value: 'newest', selected: f.order !== 'slowest' }, 'newest first'), h('option', { value: 'slowest', selected: f.order === 'slowest' }, 'slowest first'));
  const attrs = h('input', { name: 'attr', value: v.attrs.join(' '), placeholder: 'key=value …', size: 22 });
  const form = h('form', { class: 'filters search', role: 'search' },
    input('service', 'service', 'any'), input('operation', 'operation', 'any', 18),
    input('min_duration', 'min', '250ms', 7), input('max_duration', 'max', '2s', 7),
    h('label', {}, 'status', status), h('label', {}, 'attributes', attrs), order,
    h('button', { type: 'submit' }, 'search'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const data = new FormData(form);
    const filters: Record<string, string> = {};
    for (const k of ['service', 'operation', 'min_duration', 'max_duration', 'status', 'order']) {
      const val = String(data.get(k) ?? '').trim();
      if (val && !(k === 'order' && val === 'newest')) filters[k] = val;
    }
    const a = String(data.get('attr') ?? '').split(/\s+/).filter(Boolean);
    ctx.navigate(at(ctx, { kind: 'traces', filters, attrs: a }));
  });
  replace(root, heading('Traces'), form, h('p', { class: 'loading' }, 'searching…'));
  try {
    const hits = await get<TraceHit[]>('/api/v1/traces', { ...ctx.route.range, ...f, attr: v.attrs, limit: f.limit ?? 50 }, ctx.signal);
    const results = table(traceHead, traceRows(ctx, hits), { cls: 'traces', empty: 'No trace matches in this range.' });
    replace(root, heading('Traces'), form, h('p', { class: 'summary' }, `${hits.length} traces`), results);
    sizeBars(root);
  } catch (err) {
    replace(root, heading('Traces'), form, failure(err));
  }
  ctx.ready();
}
