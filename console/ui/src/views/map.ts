// The flow map: the service graph of the range, left to right, with its
// rates, errors, delivery ratios, retries, breakers and firing alerts.
import { get, type Graph, type Node as GraphNode } from '../api';
import { h, link, replace } from '../dom';
import * as fmt from '../format';
import { drawMap, type Selection } from '../map/draw';
import { crowded, links, type Link } from '../map/model';
import { breakerBadge, failure, heading, notices, table } from './common';
import { at, type Ctx } from './context';

export async function mapView(root: HTMLElement, ctx: Ctx) {
  const v = ctx.route.view;
  if (v.kind !== 'map') return;
  const { range } = ctx.route;
  let g: Graph;
  let services: string[] = [];
  try {
    [g, services] = await Promise.all([
      get<Graph>('/api/v1/graph', { ...range, service: v.service, depth: v.depth, connection_type: v.conn }, ctx.signal),
      get<string[]>('/api/v1/services', range, ctx.signal),
    ]);
  } catch (err) {
    replace(root, heading('Flow map'), failure(err));
    ctx.ready();
    return;
  }

  const t0 = performance.now(); // the answers are in: from here on it is drawing
  const filter = filterForm(ctx, services, v.service, v.depth, v.conn);
  const open = (g.edges ?? []).filter((e) => e.breaker_state === 'open');
  const firing = [...new Set(g.edges.flatMap((e) => e.alerts ?? []))].sort();
  const banner = h('div', { class: 'banners' },
    open.length ? h('div', { class: 'banner banner-open', role: 'alert' }, h('strong', {}, `${open.length} breaker${open.length > 1 ? 's' : ''} open: `),
      ...open.map((e, i) => [i ? ', ' : '', link(at(ctx, { kind: 'edge', client: e.client, server: e.server, conn: e.connection_type || undefined }), `${e.client} → ${e.server}`)]).flat()) : null,
    firing.length ? h('div', { class: 'banner banner-firing', role: 'alert' }, h('strong', {}, 'firing: '), firing.join(', '), ' · ', link(at(ctx, { kind: 'alerts' }), 'alerts')) : null,
    ...notices(g.notices));

  // the details float over the map's right side while something is selected
  const details = h('aside', { class: 'details', 'aria-live': 'polite', 'aria-label': 'details' });
  let lastFocused: Element | null = null;
  const close = () => {
    details.classList.remove('open');
    drawn.select(null);
    (lastFocused as HTMLElement | SVGElement | null)?.focus();
  };
  const closeButton = () => h('button', { type: 'button', class: 'close', 'aria-label': 'close the details', title: 'close (Escape)', onclick: close }, '×');
  details.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') close();
  });
  if (g.nodes.length === 0) {
    replace(root, heading('Flow map', filter), banner, h('p', { class: 'empty' }, 'No calls in this range. Widen the range, or send traffic.'));
    ctx.ready();
    return;
  }
  const open_ = (sel: Selection) =>
    ctx.navigate(sel.kind === 'node' ? at(ctx, { kind: 'service', name: sel.node.id }) : at(ctx, { kind: 'edge', client: sel.link.client, server: sel.link.server }));
  const drawn = drawMap(g, {
    onSelect: (sel, byKeyboard) => {
      replace(details, ...(sel ? [closeButton(), ...describe(ctx, g, sel, (key) => drawn.focus(key))] : []));
      details.classList.toggle('open', sel !== null);
      // Enter moves the focus to what it opened; Escape goes back to the map
      if (byKeyboard) {
        lastFocused = document.activeElement;
        details.querySelector<HTMLElement>('h2')?.focus();
      }
    },
    onOpen: open_,
  });
  const summary = h('p', { class: 'summary' },
    `${g.nodes.length} nodes, ${links(g).length} links`,
    g.last_call ? ` · newest call ${fmt.ago(g.last_call)}` : '',
    g.rate_seconds ? ` · rates over ${fmt.ms(g.rate_seconds * 1000)} of calls` : '');
  replace(root, heading('Flow map', filter), banner, summary, h('div', { class: `map-area${crowded(drawn.layout.links.length) ? ' crowded' : ''}` }, drawn.element, details), legend(),
    h('p', { class: 'hint' }, 'Click a service or a link for its figures, double-click for its page; drag to pan, scroll to zoom. Keyboard: Tab to a service, Enter shows it, Escape returns to the map.'));
  drawn.fit();
  performance.measure('map-render', { start: t0 });
  ctx.ready();
}

function filterForm(ctx: Ctx, services: string[], service?: string, depth?: number, conn?: string): HTMLElement {
  const list = h('datalist', { id: 'service-names' }, ...services.map((s) => h('option', { value: s })));
  const svc = h('input', { name: 'service', list: 'service-names', placeholder: 'all services', value: service ?? '', 'aria-label': 'neighbourhood of service', size: 16 });
  const dep = h('select', { name: 'depth', 'aria-label': 'hops' }, ...[1, 2, 3].map((d) => h('option', { value: d, selected: (depth ?? 1) === d }, `${d} hop${d > 1 ? 's' : ''}`)));
  const ct = h('select', { name: 'connection_type', 'aria-label': 'connection type' },
    h('option', { value: '' }, 'all links'),
    ...ctx.about.connection_types.map((c) => h('option', { value: c, selected: c === conn }, fmt.connection(c))));
  const form = h('form', { class: 'filters', role: 'search' }, h('label', {}, 'around ', svc), dep, ct, h('button', { type: 'submit' }, 'show'),
    service || conn ? link(at(ctx, { kind: 'map' }), 'whole map') : null, list);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const s = svc.value.trim();
    ctx.navigate(at(ctx, { kind: 'map', service: s || undefined, depth: s ? Number(dep.value) : undefined, conn: ct.value || undefined }));
  });
  return form;
}

function describe(ctx: Ctx, g: Graph, sel: Selection, focus: (key: string) => void): HTMLElement[] {
  if (sel.kind === 'node') return describeNode(ctx, g, sel.node, focus);
  return describeLink(ctx, sel.link);
}

function dl(pairs: [string, Node | string][]): HTMLElement {
  return h('dl', {}, ...pairs.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

function describeNode(ctx: Ctx, g: Graph, n: GraphNode, focus: (key: string) => void): HTMLElement[] {
  const ls = links(g);
  const linkButtons = (list: Link[], dir: 'in' | 'out') =>
    list.map((l) => h('li', {}, h('button', { type: 'button', class: 'linklike', onclick: () => focus(l.key) }, dir === 'in' ? `← ${l.client}` : `→ ${l.server}`),
      ' ', l.messaging && l.deliveryRatio !== undefined ? `delivered ${fmt.ratio(l.deliveryRatio)}` : fmt.rate(l.rate), ' ', breakerBadge(l.breaker === 'closed' ? '' : l.breaker)));
  const inbound = ls.filter((l) => l.server === n.id);
  const outbound = ls.filter((l) => l.client === n.id);
  return [
    h('h2', { tabindex: -1 }, n.id),
    h('p', { class: 'kind' }, n.type),
    dl([
      ['requests in', `${fmt.count(n.requests_in)} (${fmt.rate(n.request_rate)})`],
      ['errors in', `${fmt.count(n.failed_in)} (${fmt.percent(n.error_percent)})`],
      ['requests out', fmt.count(n.requests_out)],
      ...(n.messages_sent ? [['messages sent', fmt.count(n.messages_sent)] as [string, string]] : []),
      ...(n.messages_received ? [['messages received', fmt.count(n.messages_received)] as [string, string]] : []),
    ]),
    h('p', { class: 'actions' },
      link(at(ctx, { kind: 'service', name: n.id }), 'service page'), ' · ',
      link(at(ctx, { kind: 'map', service: n.id, depth: 1 }), 'neighbourhood'), ' · ',
      link(at(ctx, { kind: 'traces', filters: { service: n.id }, attrs: [] }), 'traces')),
    inbound.length ? h('h3', {}, 'called by') : null,
    inbound.length ? h('ul', { class: 'links-list' }, ...linkButtons(inbound, 'in')) : null,
    outbound.length ? h('h3', {}, 'calls') : null,
    outbound.length ? h('ul', { class: 'links-list' }, ...linkButtons(outbound, 'out')) : null,
  ].filter((x): x is HTMLElement => x !== null);
}

function describeLink(ctx: Ctx, l: Link): HTMLElement[] {
  return [
    h('h2', { tabindex: -1 }, `${l.client} → ${l.server}`),
    breakerBadge(l.breaker === 'closed' ? '' : l.breaker) ?? h('span', {}),
    l.alerts.length ? h('p', { class: 'pill firing' }, `firing: ${l.alerts.join(', ')}`) : h('span', {}),
    ...l.edges.map((e) =>
      h('section', { class: 'edge-detail', 'data-edge': e.id },
        h('h3', {}, fmt.connection(e.connection_type)),
        table(['', ''], [
          ['requests', `${fmt.count(e.requests)} (${fmt.rate(e.request_rate)})`],
          ['failed', `${fmt.count(e.failed)} (${fmt.percent(e.error_percent)})`],
          ['p50', fmt.ms(e.p50_ms)],
          ['p95', fmt.ms(e.p95_ms)],
          ['p99', fmt.ms(e.p99_ms)],
          ...(e.connection_type === 'messaging_system'
            ? [
                ['messages sent', fmt.count(e.messages_sent ?? 0)],
                ['messages received', fmt.count(e.messages_received ?? 0)],
                ['delivery ratio', e.delivery_ratio !== undefined
                  ? h('span', { class: 'delivery-ratio' }, h('strong', {}, fmt.ratio(e.delivery_ratio)), ' ', h('small', {}, `(${fmt.count(e.messages_received ?? 0)} of ${fmt.count(e.producer_sent ?? 0)} sent)`))
                  : '–'],
                ...(e.delay_p99_ms ? [['delay p50 / p99', `${fmt.ms(e.delay_p50_ms ?? 0)} / ${fmt.ms(e.delay_p99_ms)}`]] : []),
              ]
            : []),
          ['retries', fmt.count(e.retries ?? 0)],
          ['breaker', e.breaker_state ? `${fmt.breaker(e.breaker_state)}${e.breaker ? ` since ${fmt.time(e.breaker.since)}` : ' (worst seen)'}, ${e.breaker_transitions ?? 0} changes` : 'none'],
        ] as [string, Node | string][], { cls: 'kv' }))),
    h('p', { class: 'actions' }, link(at(ctx, { kind: 'edge', client: l.client, server: l.server }), 'edge page: series and rules')),
  ];
}

function legend(): HTMLElement {
  const item = (cls: string, text: string) => h('li', {}, h('span', { class: `swatch ${cls}` }), text);
  return h('ul', { class: 'legend', 'aria-label': 'legend' },
    item('sev-ok', 'calls'), item('sev-warn', '≥1% errors'), item('sev-bad', '≥5% errors'), item('msg', 'messages'),
    item('firing', 'alert firing'), item('breaker-open', 'breaker open'), h('li', {}, 'line width: request rate'));
}
