import { along, layout, path } from './layout';
import { edge, graph } from './model.test';

describe('layout', () => {
  it('flows read left to right: callers left of what they call', () => {
    const g = graph([edge('user', 'gateway'), edge('gateway', 'checkout'), edge('checkout', 'payments'), edge('checkout', 'postgres'), edge('payments', 'postgres')]);
    const lay = layout(g);
    const x = (id: string) => lay.nodes.get(id)!.x;
    expect(x('user')).toBeLessThan(x('gateway'));
    expect(x('gateway')).toBeLessThan(x('checkout'));
    expect(x('checkout')).toBeLessThan(x('payments'));
    expect(x('payments')).toBeLessThan(x('postgres'));
    expect(lay.links).toHaveLength(5);
    for (const l of lay.links) expect(l.points.length).toBeGreaterThanOrEqual(2);
  });
  it('lays out 50 services and 300 links, without labels to make room for', () => {
    const edges = [];
    for (let i = 0; i < 300; i++) edges.push(edge(`svc-${i % 50}`, `svc-${(i % 50) + 1 + Math.floor(i / 50)}`));
    const lay = layout(graph(edges));
    expect(lay.nodes.size).toBe(56);
    expect(lay.links).toHaveLength(300);
    for (const b of lay.nodes.values()) expect(isFinite(b.x) && isFinite(b.y)).toBe(true);
  });
  it('a service calling itself has no line', () => {
    expect(layout(graph([edge('a', 'a'), edge('a', 'b')])).links.map((l) => l.link.key)).toEqual(['a->b']);
  });
  it('paths and points along them', () => {
    expect(path([{ x: 0, y: 0 }, { x: 10, y: 0 }])).toBe('M0,0L10,0');
    expect(path([{ x: 0, y: 0 }, { x: 10, y: 0 }, { x: 10, y: 10 }])).toBe('M0,0Q10,0 10,10');
    expect(along([{ x: 0, y: 0 }, { x: 10, y: 0 }, { x: 10, y: 10 }], 0.75)).toEqual({ x: 10, y: 5 });
  });
});
