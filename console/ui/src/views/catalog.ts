// The service catalog: what each service serves, calls, produces and
// consumes, the protocols it speaks, its instances and versions, as its
// traffic shows; and what changed since an earlier window.
import { get, type Catalog, type CatalogCaller, type CatalogChange, type CatalogService } from '../api';
import { h, link, replace } from '../dom';
import * as fmt from '../format';
import { failure, heading, table } from './common';
import { at, type Ctx } from './context';

export const compareChoices: [string, string][] = [
  ['', 'nothing'],
  ['previous', 'the window before'],
  ['1d', 'a day earlier'],
  ['7d', 'a week earlier'],
];

/** callerText names a caller: "checkout via orders". */
export function callerText(c: CatalogCaller): string {
  return c.via ? `${c.service} via ${c.via}` : c.service;
}

/** list is items separated by commas, in one element ('–' for none). */
function list(items: (string | Node)[] | undefined, empty = '–'): Node | string {
  if (!items?.length) return empty;
  return h('span', {}, ...items.flatMap((x, i) => (i ? [', ', x] : [x])));
}

function changeRows(changes: CatalogChange[]): (Node | string)[][] {
  return changes.map((c) => [c.service, h('span', { class: `pill change ${c.kind.startsWith('new') ? 'change-new' : 'change-gone'}` }, c.kind), c.what]);
}

export async function catalogView(root: HTMLElement, ctx: Ctx) {
  const v = ctx.route.view;
  if (v.kind !== 'catalog') return;
  const compare = h('select', { name: 'compare', 'aria-label': 'compare with' },
    ...compareChoices.map(([val, label]) => h('option', { value: val, selected: (v.compare ?? '') === val }, label)));
  compare.addEventListener('change', () => ctx.navigate(at(ctx, { kind: 'catalog', name: v.name, compare: compare.value || undefined })));
  const form = h('form', { class: 'filters search' }, h('label', {}, 'changes since', compare));
  const head = v.name ? heading(v.name) : heading('Service catalog');
  let c: Catalog;
  try {
    c = await get<Catalog>('/api/v1/catalog', { ...ctx.route.range, service: v.name, compare_to: v.compare }, ctx.signal);
  } catch (err) {
    replace(root, head, form, failure(err));
    ctx.ready();
    return;
  }
  const changes = c.changes
    ? [h('h2', {}, `Changes since ${fmt.time(c.baseline!.from).slice(0, 16)} – ${fmt.time(c.baseline!.to).slice(11, 16)}`),
      table(['service', 'change', 'what'], changeRows(c.changes), { cls: 'changes', empty: 'Nothing changed.' })]
    : [];
  if (v.name) {
    const s = c.services.find((x) => x.name === v.name);
    if (!s) {
      replace(root, head, form, h('p', { class: 'empty' }, `${v.name} made and served no calls in this range.`), ...changes);
    } else {
      replace(root, heading(s.name, h('span', { class: 'kind' }, s.kind)), form, ...entry(ctx, s), ...changes);
    }
    ctx.ready();
    return;
  }
  const changed = new Set((c.changes ?? []).map((x) => x.service));
  const rows = c.services.map((s) => [
    link(at(ctx, { kind: 'catalog', name: s.name, compare: v.compare }), s.name),
    s.kind,
    s.kind === 'service' ? list(s.operations?.map((o) => o.name)) : `called by ${(s.called_by ?? []).map((x) => x.service).join(', ')}`,
    list(s.calls?.map((x) => x.service)),
    list(s.topics?.map((t) => `${t.name}${t.produces ? ' ↑' : ''}${t.consumes ? ' ↓' : ''}`)),
    list(s.protocols),
    list(s.instances),
    list(s.versions),
    changed.has(s.name) ? h('span', { class: 'pill change change-new' }, 'changed') : '',
  ]);
  replace(root, head, form,
    h('p', { class: 'summary' }, `What each service does, as its traffic between ${fmt.time(c.from).slice(0, 16)} and ${fmt.time(c.to).slice(0, 16)} shows; ↑ produces to a topic, ↓ consumes from it.`),
    table(['name', 'kind', 'serves', 'calls', 'topics', 'protocols', 'instances', 'versions', ''], rows, { cls: 'catalog', empty: 'No service in this range.' }),
    ...changes);
  ctx.ready();
}

/** entry is one service's catalog entry. */
function entry(ctx: Ctx, s: CatalogService): HTMLElement[] {
  const callers = (cs: CatalogCaller[]) => list(cs.map((c) => h('span', {}, link(at(ctx, { kind: 'catalog', name: c.service }), callerText(c)), ` ${fmt.rate(c.rate)}`)));
  const out: HTMLElement[] = [
    h('p', { class: 'crumbs' },
      s.first_seen ? `first seen ${fmt.time(s.first_seen).slice(0, 16)}, last seen ${fmt.time(s.last_seen!).slice(0, 16)} · ` : '',
      `instances: ${(s.instances ?? []).join(', ') || '–'} · versions: ${(s.versions ?? []).join(', ') || '–'} · protocols: ${(s.protocols ?? []).join(', ') || '–'} · `,
      link(at(ctx, { kind: 'service', name: s.name }), 'its traffic'), ' · ',
      link(at(ctx, { kind: 'map', service: s.name, depth: 1 }), 'neighbourhood on the map')),
  ];
  if (s.kind === 'service') {
    out.push(h('h2', {}, 'Serves'),
      table(['operation', 'kind', 'protocol', 'rate', 'errors', 'called by'], (s.operations ?? []).map((o) => [
        link(at(ctx, { kind: 'traces', filters: { service: s.name, operation: o.name }, attrs: [] }), o.name),
        o.kind, o.protocol ?? '–', fmt.rate(o.rate), fmt.count(o.errors), callers(o.callers)]), { cls: 'catalog-ops', empty: 'It served nothing in this range.' }),
      h('h2', {}, 'Calls'),
      table(['service', 'how', 'protocol', 'operations', 'rate', 'failed'], (s.calls ?? []).map((c) => [
        link(at(ctx, { kind: 'catalog', name: c.service }), c.service),
        c.via ? `messages via ${c.via}` : fmt.connection(c.connection_type),
        c.protocol ?? '–', list(c.operations), fmt.rate(c.rate), fmt.count(c.failed)]), { cls: 'catalog-calls', empty: 'It called nothing in this range.' }),
      h('h2', {}, 'Topics'),
      table(['topic', 'system', 'role'], (s.topics ?? []).map((t) => [t.name, t.system ?? '–', [t.produces ? 'produces' : '', t.consumes ? 'consumes' : ''].filter(Boolean).join(', ')]),
        { cls: 'catalog-topics', empty: 'It produces and consumes no messages.' }));
  } else {
    out.push(h('h2', {}, 'Called by'), table(['caller', 'rate'], (s.called_by ?? []).map((c) => [link(at(ctx, { kind: 'catalog', name: c.service }), c.service), fmt.rate(c.rate)]),
      { cls: 'catalog-called-by', empty: 'Nothing called it in this range.' }));
  }
  return out;
}
