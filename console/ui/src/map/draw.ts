// The map as SVG: links under nodes, labels and breaker badges on links,
// pan and zoom, hover and keyboard focus.
import type { Graph, Node } from '../api';
import { h, s } from '../dom';
import * as fmt from '../format';
import { layout, nodeHeight, path, type Layout } from './layout';
import { crowded, label, labelLines, labelSize, minScale, nodeLine, severity, shorten, trouble, width, type Link } from './model';

export type Selection = { kind: 'node'; node: Node } | { kind: 'link'; link: Link };

export interface MapOptions {
  /** onSelect shows what was selected; byKeyboard: the person pressed
   * Enter on it, and the details should take the focus. */
  onSelect(sel: Selection | null, byKeyboard?: boolean): void;
  onOpen(sel: Selection): void; // double click: go to the page of it
}

export interface DrawnMap {
  element: HTMLElement;
  layout: Layout;
  fit(): void;
  select(key: string | null): void;
  /** focus moves the keyboard focus to a node or link and selects it. */
  focus(key: string): void;
}

interface Transform {
  x: number;
  y: number;
  k: number;
}

/** drawMap lays out and draws g. */
export function drawMap(g: Graph, opts: MapOptions): DrawnMap {
  const lay = layout(g);
  const nodesById = new Map(g.nodes.map((n) => [n.id, n]));
  const maxRate = Math.max(0, ...lay.links.map((l) => l.link.rate));
  const busy = crowded(lay.links.length);

  const defs = s('defs', {},
    ...(['ok', 'warn', 'bad', 'msg', 'alert'] as const).map((c) =>
      // in user space: a thick line (a busy link) keeps a small arrow
      s('marker', { id: `arrow-${c}`, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 11, markerHeight: 11, markerUnits: 'userSpaceOnUse', orient: 'auto-start-reverse', class: `arrow arrow-${c}` },
        s('path', { d: 'M0,1 L10,5 L0,9 z' }))));
  const linkLayer = s('g', { class: 'links' });
  const labelLayer = s('g', { class: 'labels' });
  const nodeLayer = s('g', { class: 'nodes' });
  const badgeLayer = s('g', { class: 'badges' });
  const viewport = s('g', { class: 'viewport' }, linkLayer, nodeLayer, labelLayer, badgeLayer);
  const svg = s('svg', { class: `map${busy ? ' crowded' : ''}`, role: 'group', 'aria-label': `flow map: ${g.nodes.length} nodes, ${lay.links.length} links` }, defs, viewport);

  const byKey = new Map<string, SVGGElement[]>(); // what to mark when a node or link is selected or hovered
  const mark = (key: string, el: SVGGElement) => {
    const list = byKey.get(key) ?? [];
    list.push(el);
    byKey.set(key, list);
  };
  const selectables: { key: string; el: SVGGElement; sel: Selection }[] = [];

  for (const { link: l, points, label: mid } of lay.links) {
    const sev = l.alerts.length > 0 ? 'alert' : l.messaging && severity(l.errorPercent) === 'ok' ? 'msg' : severity(l.errorPercent);
    const d = path(points);
    const cls = ['link', `sev-${sev}`, l.messaging ? 'messaging' : '', l.alerts.length ? 'firing' : '', trouble(l) ? 'trouble' : ''].filter(Boolean).join(' ');
    const name = `${l.client} to ${l.server}: ${label(l).join(', ')}${l.breaker ? `, breaker ${fmt.breaker(l.breaker)}` : ''}${l.alerts.length ? `, firing ${l.alerts.join(', ')}` : ''}`;
    const g1 = s('g', { class: cls, tabindex: -1, role: 'button', 'aria-label': name, 'data-link': l.key },
      s('path', { class: 'hit', d }),
      l.alerts.length ? s('path', { class: 'glow', d }) : null,
      // crowded: thinner lines, or hundreds of them hide everything
      s('path', { class: 'line', d, 'stroke-width': width(l.rate, maxRate) * (busy ? 0.5 : 1), 'marker-end': `url(#arrow-${sev})` }));
    linkLayer.append(g1);
    const sel: Selection = { kind: 'link', link: l };
    selectables.push({ key: l.key, el: g1, sel });
    mark(l.key, g1);
    mark(l.client, g1);
    mark(l.server, g1);

    const lines = labelLines(l);
    const { width: lw, height: lh } = labelSize(l);
    const lbl = s('g', { class: `label${trouble(l) ? ' trouble' : ''}${l.alerts.length ? ' firing' : ''}`, transform: `translate(${mid.x},${mid.y})`, 'data-label': l.key },
      s('rect', { x: -lw / 2, y: -lh / 2, width: lw, height: lh, rx: 3 }),
      ...lines.map((t, i) => s('text', { x: 0, y: -lh / 2 + 13 * (i + 1) - 1, class: i === 0 && l.alerts.length ? 'alert-text' : '' }, t)));
    labelLayer.append(lbl);
    mark(l.key, lbl);
    mark(l.client, lbl);
    mark(l.server, lbl);

    if (l.breaker === 'open' || l.breaker === 'half_open') {
      // on the label, so that it sits on the link and covers nothing else
      const text = l.breaker === 'open' ? 'BREAKER OPEN' : 'BREAKER HALF-OPEN';
      const bw = text.length * 7.4 + 18;
      badgeLayer.append(s('g', { class: `badge breaker-${l.breaker}`, transform: `translate(${mid.x},${mid.y - lh / 2 - 9})`, 'data-breaker': l.key, role: 'img', 'aria-label': `breaker of ${l.client} towards ${l.server} ${fmt.breaker(l.breaker)}` },
        s('rect', { x: -bw / 2, y: -11, width: bw, height: 22, rx: 11 }),
        s('text', { x: 0, y: 4 }, text)));
    }
  }

  for (const n of g.nodes) {
    const b = lay.nodes.get(n.id);
    if (!b) continue;
    const sev = severity(n.error_percent);
    const x = b.x - b.width / 2;
    const y = b.y - nodeHeight / 2;
    const shape =
      n.type === 'database'
        ? s('path', { class: 'shape', d: `M${x},${y + 6} a${b.width / 2},6 0 0,1 ${b.width},0 v${nodeHeight - 12} a${b.width / 2},6 0 0,1 ${-b.width},0 z` })
        : s('rect', { class: 'shape', x, y, width: b.width, height: nodeHeight, rx: n.type === 'user' ? nodeHeight / 2 : 6 });
    const maxChars = Math.floor((b.width - 20) / (busy ? 9.2 : 7.4));
    const gn = s('g', { class: `node type-${n.type} sev-${sev}`, tabindex: 0, role: 'button', 'data-node': n.id,
      'aria-label': `${n.type} ${n.id}: ${nodeLine(n)}` },
      shape,
      s('text', { class: 'name', x: b.x, y: y + (busy ? 20 : 19) }, shorten(n.id, maxChars)),
      s('text', { class: 'figures', x: b.x, y: y + (busy ? 39 : 35) }, nodeLine(n)));
    nodeLayer.append(gn);
    const sel: Selection = { kind: 'node', node: nodesById.get(n.id)! };
    selectables.push({ key: n.id, el: gn, sel });
    mark(n.id, gn);
  }

  // Tab walks the nodes left to right, top to bottom (DOM order); links
  // are reached from a node's details, not by tabbing through hundreds.
  const nodeOrder = selectables.filter((x) => x.sel.kind === 'node');
  nodeOrder.sort((a, b) => lay.nodes.get(a.key)!.x - lay.nodes.get(b.key)!.x || lay.nodes.get(a.key)!.y - lay.nodes.get(b.key)!.y);
  for (const { el } of nodeOrder) nodeLayer.append(el);

  const setMarks = (cls: string, key: string | null) => {
    svg.querySelectorAll(`.${cls}`).forEach((el) => el.classList.remove(cls));
    svg.classList.toggle(`has-${cls}`, key !== null);
    if (key) for (const el of byKey.get(key) ?? []) el.classList.add(cls);
  };
  const select = (key: string | null) => {
    setMarks('selected', key);
  };
  for (const { key, el, sel } of selectables) {
    el.addEventListener('mouseenter', () => setMarks('hovered', key));
    el.addEventListener('mouseleave', () => setMarks('hovered', null));
    el.addEventListener('focus', () => setMarks('hovered', key));
    el.addEventListener('blur', () => setMarks('hovered', null));
    el.addEventListener('click', (ev) => {
      ev.stopPropagation();
      select(key);
      opts.onSelect(sel);
    });
    el.addEventListener('dblclick', () => opts.onOpen(sel));
    el.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' || ev.key === ' ') {
        ev.preventDefault();
        select(key);
        opts.onSelect(sel, true);
      }
    });
  }

  // pan and zoom
  const t: Transform = { x: 0, y: 0, k: 1 };
  const apply = () => {
    viewport.setAttribute('transform', `translate(${t.x},${t.y}) scale(${t.k})`);
    svg.classList.toggle('zoomed-in', t.k >= 1.2);
  };
  const zoomAt = (factor: number, cx: number, cy: number) => {
    const k = Math.min(4, Math.max(0.15, t.k * factor));
    t.x = cx - ((cx - t.x) * k) / t.k;
    t.y = cy - ((cy - t.y) * k) / t.k;
    t.k = k;
    apply();
  };
  // fit the map to its box, but not below minScale: a larger map opens at
  // its callers' end, vertically centred, and pans
  const fit = () => {
    const r = svg.getBoundingClientRect();
    if (!r.width || !lay.width) return;
    t.k = Math.max(minScale, Math.min(1.25, Math.min(r.width / lay.width, r.height / lay.height) * 0.98));
    t.x = lay.width * t.k <= r.width ? (r.width - lay.width * t.k) / 2 : 0;
    t.y = (r.height - lay.height * t.k) / 2;
    apply();
  };
  svg.addEventListener('wheel', (ev) => {
    ev.preventDefault();
    const r = svg.getBoundingClientRect();
    zoomAt(Math.exp(-ev.deltaY * 0.0015), ev.clientX - r.left, ev.clientY - r.top);
  }, { passive: false });
  let drag: { x: number; y: number } | null = null;
  svg.addEventListener('pointerdown', (ev) => {
    if ((ev.target as Element).closest('.node, .link')) return;
    drag = { x: ev.clientX - t.x, y: ev.clientY - t.y };
    svg.setPointerCapture(ev.pointerId);
    svg.classList.add('dragging');
  });
  svg.addEventListener('pointermove', (ev) => {
    if (!drag) return;
    t.x = ev.clientX - drag.x;
    t.y = ev.clientY - drag.y;
    apply();
  });
  svg.addEventListener('pointerup', () => {
    drag = null;
    svg.classList.remove('dragging');
  });
  svg.addEventListener('click', () => {
    select(null);
    opts.onSelect(null);
  });

  const button = (text: string, title: string, fn: () => void) => h('button', { type: 'button', title, 'aria-label': title, onclick: fn }, text);
  const center = () => {
    const r = svg.getBoundingClientRect();
    return [r.width / 2, r.height / 2] as const;
  };
  const controls = h('div', { class: 'map-controls' },
    button('+', 'zoom in', () => zoomAt(1.25, ...center())),
    button('−', 'zoom out', () => zoomAt(0.8, ...center())),
    button('fit', 'fit the map to the window', fit));
  const element = h('div', { class: `map-canvas${busy ? ' crowded' : ''}` }, svg, controls);
  apply();
  const focus = (key: string) => {
    const x = selectables.find((e) => e.key === key);
    if (!x) return;
    x.el.focus();
    select(key);
    opts.onSelect(x.sel, true);
  };
  return { element, layout: lay, fit, select, focus };
}
