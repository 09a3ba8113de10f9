// Left-to-right layout of the map with dagre (a layered, Sugiyama-style
// layout): callers on the left, what they call on the right.
import { Graph as DagreGraph, layout as dagreLayout } from '@dagrejs/dagre';
import type { Graph } from '../api';
import { crowded, labelSize, links, nodeWidth, type Link } from './model';

export interface Box {
  x: number; // centre
  y: number;
  width: number;
  height: number;
}

export interface Point {
  x: number;
  y: number;
}

export interface Layout {
  nodes: Map<string, Box>;
  /** label is where the link's label goes (dagre keeps room for it when
   * labels are drawn, see crowded). */
  links: { link: Link; points: Point[]; label: Point }[];
  width: number;
  height: number;
}

export const nodeHeight = 46;

/** layout places the graph's nodes and routes its links. */
export function layout(g: Graph): Layout {
  const dg = new DagreGraph({ multigraph: false });
  const ls = links(g);
  const labelled = !crowded(ls.length);
  // with labels, dagre puts each on a rank of its own between the ends'
  // crowded: nodes closer, links packed, ranks far apart to use the width
  dg.setGraph({ rankdir: 'LR', nodesep: labelled ? 22 : 8, ranksep: labelled ? 50 : 240, edgesep: labelled ? 10 : 2, marginx: 24, marginy: 44, ranker: 'network-simplex' });
  dg.setDefaultEdgeLabel(() => ({}));
  for (const n of g.nodes) dg.setNode(n.id, { width: nodeWidth(n, !labelled), height: nodeHeight });
  for (const l of ls) {
    if (!dg.hasNode(l.client) || !dg.hasNode(l.server) || l.client === l.server) continue;
    const size = labelled ? labelSize(l) : { width: 0, height: 0 };
    // the user starts every flow: weight keeps its links short and straight
    dg.setEdge(l.client, l.server, { weight: l.client === 'user' ? 4 : 1, minlen: 1, labelpos: 'c', ...size });
  }
  dagreLayout(dg);
  const nodes = new Map<string, Box>();
  for (const id of dg.nodes()) {
    const n = dg.node(id);
    nodes.set(id, { x: n.x, y: n.y, width: n.width, height: n.height });
  }
  const out: Layout['links'] = [];
  for (const l of ls) {
    if (l.client === l.server) continue; // a service calling itself has no line to draw
    const e = dg.edge(l.client, l.server);
    if (!e?.points) continue;
    const points = e.points.map((p: Point) => ({ x: p.x, y: p.y }));
    out.push({ link: l, points, label: labelled && e.x !== undefined ? { x: e.x, y: e.y } : along(points, 0.5) });
  }
  const gr = dg.graph();
  return { nodes, links: out, width: gr.width ?? 0, height: gr.height ?? 0 };
}

/** path is an SVG path through points, smoothed with quadratic curves
 * between the midpoints of its segments. */
export function path(points: Point[]): string {
  if (points.length === 0) return '';
  const r = (v: number) => Math.round(v * 10) / 10;
  let d = `M${r(points[0].x)},${r(points[0].y)}`;
  if (points.length === 2) return `${d}L${r(points[1].x)},${r(points[1].y)}`;
  for (let i = 1; i < points.length - 1; i++) {
    const p = points[i];
    const next = points[i + 1];
    const mx = i === points.length - 2 ? next.x : (p.x + next.x) / 2;
    const my = i === points.length - 2 ? next.y : (p.y + next.y) / 2;
    d += `Q${r(p.x)},${r(p.y)} ${r(mx)},${r(my)}`;
  }
  return d;
}

/** along is the point a share t (0-1) of the way along a polyline. */
export function along(points: Point[], t: number): Point {
  if (points.length === 1) return points[0];
  const seg: number[] = [];
  let total = 0;
  for (let i = 1; i < points.length; i++) {
    const d = Math.hypot(points[i].x - points[i - 1].x, points[i].y - points[i - 1].y);
    seg.push(d);
    total += d;
  }
  let left = total * Math.min(1, Math.max(0, t));
  for (let i = 0; i < seg.length; i++) {
    if (left <= seg[i] || i === seg.length - 1) {
      const f = seg[i] === 0 ? 0 : Math.min(1, left / seg[i]);
      return { x: points[i].x + (points[i + 1].x - points[i].x) * f, y: points[i].y + (points[i + 1].y - points[i].y) * f };
    }
    left -= seg[i];
  }
  return points[points.length - 1];
}
