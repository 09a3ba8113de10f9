// One trace as a waterfall: spans in tree order with their events and
// logs interleaved, attributes on selection, links followed both ways.
import { get, type LinkingSpan, type Span, type Trace } from '../api';
import { h, link, replace } from '../dom';
import * as fmt from '../format';
import { ticks, waterfall, type Row } from '../waterfall';
import { failure, heading, severityOf, table } from './common';
import { at, type Ctx } from './context';

/** colour of a service: the same everywhere, from its name. */
export function serviceHue(name: string): number {
  let x = 0;
  for (const c of name) x = (x * 31 + c.charCodeAt(0)) >>> 0;
  return x % 360;
}

export async function traceView(root: HTMLElement, ctx: Ctx) {
  const v = ctx.route.view;
  if (v.kind !== 'trace') return;
  let tr: Trace;
  try {
    tr = await get<Trace>(`/api/v1/traces/${encodeURIComponent(v.id)}`, {}, ctx.signal);
  } catch (err) {
    replace(root, heading('Trace', h('code', {}, v.id)), failure(err));
    ctx.ready();
    return;
  }
  const t0 = performance.now(); // the answer is in: from here on it is drawing
  const wf = waterfall(tr);
  const errors = tr.spans.filter((s) => s.status_code === 'Error').length;
  const summary = h('p', { class: 'summary' },
    `${tr.spans.length} spans · ${wf.services.length} services · ${tr.logs.length} logs · ${fmt.ms(wf.totalMs)} · started ${fmt.time(new Date(wf.startMs))}`,
    errors ? h('span', { class: 'bad' }, ` · ${errors} spans failed`) : '',
    ' · ', link(at(ctx, { kind: 'logs', filters: { trace_id: tr.trace_id }, follow: false }), 'its logs'));
  const axis = h('div', { class: 'wf-axis', 'aria-hidden': 'true' }, h('div', { class: 'wf-label' }),
    h('div', { class: 'wf-track' }, ...ticks(wf.totalMs).map((t) => h('span', { class: 'tick', 'data-x': pct(t, wf.totalMs) }, fmt.ms(t)))));
  const detail = h('aside', { class: 'span-detail', 'aria-live': 'polite' });
  const rows = h('div', { class: 'wf-rows', role: 'tree', 'aria-label': 'spans' }, ...wf.rows.map((r) => rowEl(ctx, tr, r, wf.totalMs, (s) => showSpan(ctx, tr, s, detail, rows))));
  replace(root, heading('Trace', h('code', { class: 'trace-id' }, tr.trace_id)), summary, h('div', { class: 'waterfall' }, axis, rows), detail);
  place(root);
  const focus = v.span ? rows.querySelector<HTMLElement>(`[data-span="${CSS.escape(v.span)}"]`) : null;
  if (focus && v.span) {
    showSpan(ctx, tr, tr.spans.find((s) => s.span_id === v.span)!, detail, rows);
    focus.scrollIntoView({ block: 'center' });
  }
  performance.measure('trace-render', { start: t0 });
  ctx.ready();
}

function pct(ms: number, total: number): string {
  return total > 0 ? (Math.min(100, Math.max(0, (100 * ms) / total))).toFixed(3) : '0';
}

/** place positions bars, ticks and markers: CSP forbids inline styles in
 * markup, so positions travel in data attributes and land in the CSSOM. */
function place(root: HTMLElement) {
  root.querySelectorAll<HTMLElement>('[data-x]').forEach((el) => (el.style.left = `${el.dataset.x}%`));
  root.querySelectorAll<HTMLElement>('[data-w]').forEach((el) => (el.style.width = `max(2px, ${el.dataset.w}%)`));
  root.querySelectorAll<HTMLElement>('[data-indent]').forEach((el) => (el.style.paddingLeft = `${Number(el.dataset.indent) * 14 + 6}px`));
  root.querySelectorAll<HTMLElement>('[data-hue]').forEach((el) => el.style.setProperty('--hue', el.dataset.hue!));
}

function rowEl(ctx: Ctx, tr: Trace, r: Row, total: number, select: (s: Span) => void): HTMLElement {
  if (r.kind === 'span') {
    const s = r.span;
    const failed = s.status_code === 'Error';
    const el = h('div', { class: `wf-row span${failed ? ' failed' : ''}`, role: 'treeitem', tabindex: 0, 'data-span': s.span_id, 'aria-level': r.depth + 1,
      'aria-label': `${s.service_name} ${s.name}, ${fmt.ms(r.durationMs)}${failed ? ', failed' : ''}` },
      h('div', { class: 'wf-label', 'data-indent': r.depth },
        h('span', { class: 'svc', 'data-hue': serviceHue(s.service_name) }, s.service_name), ' ', h('span', { class: 'op' }, s.name),
        s.links?.length ? h('span', { class: 'linkmark', title: 'links to another trace' }, ' ⇢') : '',
        linkingSpans(tr, s.span_id).length ? h('span', { class: 'linkmark', title: 'linked from another trace' }, ' ⇠') : ''),
      h('div', { class: 'wf-track' },
        h('span', { class: 'bar', 'data-x': pct(r.offsetMs, total), 'data-w': pct(r.durationMs, total), 'data-hue': serviceHue(s.service_name) }),
        h('span', { class: 'dur', 'data-x': pct(r.offsetMs + r.durationMs, total) }, fmt.ms(r.durationMs))));
    el.addEventListener('click', () => select(s));
    el.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' || ev.key === ' ') {
        ev.preventDefault();
        select(s);
      } else if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
        ev.preventDefault();
        const all = [...el.parentElement!.querySelectorAll<HTMLElement>('.wf-row.span')];
        all[all.indexOf(el) + (ev.key === 'ArrowDown' ? 1 : -1)]?.focus();
      }
    });
    return el;
  }
  if (r.kind === 'entry') {
    const e = r.entry;
    const text = e.kind === 'log' ? e.body ?? '' : e.name;
    return h('div', { class: `wf-row entry entry-${e.kind}`, 'data-entry-of': r.span.span_id },
      h('div', { class: 'wf-label', 'data-indent': r.depth },
        h('span', { class: `sev sev-${e.kind === 'log' ? (e.name || 'info').toLowerCase() : 'event'}` }, e.kind === 'log' ? e.name || 'log' : 'event'), ' ',
        h('span', { class: 'entry-text', title: text }, text)),
      h('div', { class: 'wf-track' }, h('span', { class: 'marker', 'data-x': pct(r.offsetMs, total) })));
  }
  const l = r.log;
  return h('div', { class: 'wf-row entry entry-log outside' },
    h('div', { class: 'wf-label', 'data-indent': 0 },
      h('span', { class: `sev sev-${severityOf(l)}` }, severityOf(l)), ' ', h('span', { class: 'svc', 'data-hue': serviceHue(l.service_name) }, l.service_name), ' ',
      h('span', { class: 'entry-text', title: l.body }, l.body)),
    h('div', { class: 'wf-track' }, h('span', { class: 'marker', 'data-x': pct(r.offsetMs, total) })));
}

/** linkingSpans are the spans with a link to spanID: of other traces (the
 * store's index of links) and of this one (a consumer that continues its
 * producer's trace and links to it too). */
export function linkingSpans(tr: Trace, spanID: string): LinkingSpan[] {
  const out = (tr.linked_from ?? []).filter((l) => l.linked_span_id === spanID);
  for (const sp of tr.spans) {
    if (sp.links?.some((l) => l.span_id === spanID && l.trace_id === tr.trace_id)) {
      out.push({ linked_span_id: spanID, timestamp: sp.timestamp, trace_id: tr.trace_id, span_id: sp.span_id, service_name: sp.service_name, name: sp.name });
    }
  }
  return out;
}

function attrs(m?: Record<string, string>): HTMLElement {
  const keys = Object.keys(m ?? {}).sort();
  return table(['key', 'value'], keys.map((k) => [k, m![k]]), { cls: 'kv', empty: 'none' });
}

function showSpan(ctx: Ctx, tr: Trace, s: Span, detail: HTMLElement, rows: HTMLElement) {
  rows.querySelectorAll('.wf-row.selected').forEach((el) => el.classList.remove('selected'));
  rows.querySelector(`[data-span="${CSS.escape(s.span_id)}"]`)?.classList.add('selected');
  const linkedFrom = linkingSpans(tr, s.span_id);
  replace(detail,
    h('h2', {}, h('span', { class: 'svc', 'data-hue': serviceHue(s.service_name) }, s.service_name), ' ', s.name),
    h('p', {}, `${s.kind} · ${fmt.ns(s.duration_ns)} · ${s.status_code}${s.status_message ? `: ${s.status_message}` : ''} · started ${fmt.time(s.timestamp)}`),
    h('p', { class: 'ids' }, 'span ', h('code', {}, s.span_id), s.parent_span_id ? [' · parent ', h('code', {}, s.parent_span_id)] : ''),
    s.links?.length ? h('section', {}, h('h3', {}, 'links to'), h('ul', { class: 'links-list' }, ...s.links.map((l) =>
      h('li', {}, link(at(ctx, { kind: 'trace', id: l.trace_id, span: l.span_id }), `trace ${l.trace_id.slice(0, 12)}… span ${l.span_id}`), l.attributes ? ` ${Object.entries(l.attributes).map(([k, v]) => `${k}=${v}`).join(' ')}` : '')))) : '',
    linkedFrom.length ? h('section', {}, h('h3', {}, 'linked from'), h('ul', { class: 'links-list' }, ...linkedFrom.map((l) =>
      h('li', {}, link(at(ctx, { kind: 'trace', id: l.trace_id, span: l.span_id }), `${l.service_name}: ${l.name}`), l.trace_id === tr.trace_id ? ' (this trace)' : ` (trace ${l.trace_id.slice(0, 12)}…)`)))) : '',
    h('h3', {}, 'attributes'), attrs(s.attributes),
    s.events?.length ? [h('h3', {}, 'events'), table(['time', 'event', 'attributes'], s.events.map((e) => [fmt.time(e.timestamp), e.name, Object.entries(e.attributes ?? {}).map(([k, v]) => `${k}=${v}`).join(' ')]))] : '',
    h('h3', {}, 'resource'), attrs(s.resource_attributes));
  place(detail);
}
