import type { Edge, Graph } from '../api';
import { crowded, label, labelLines, links, severity, trouble, width } from './model';

export function edge(client: string, server: string, more: Partial<Edge> = {}): Edge {
  return {
    id: `${client}->${server}|${more.connection_type ?? ''}`, client, server, connection_type: '', requests: 100, failed: 0,
    request_rate: 1, error_percent: 0, p50_ms: 1, p95_ms: 5, p99_ms: 10, ...more,
  };
}

export function graph(edges: Edge[]): Graph {
  const ids = [...new Set(edges.flatMap((e) => [e.client, e.server]))];
  return {
    from: '', to: '', rate_seconds: 60, edges,
    nodes: ids.map((id) => ({ id, type: id === 'user' ? 'user' : 'service', requests_in: 1, requests_out: 1, failed_in: 0, error_percent: 0, request_rate: 1 })),
  };
}

describe('links', () => {
  it('merges the edges between two nodes: the worst breaker, every alert, the sums', () => {
    const [l] = links(graph([
      edge('checkout', 'payments', { requests: 44, failed: 2, request_rate: 0.7, p99_ms: 378, retries: 2, breaker_state: 'closed', alerts: ['B'] }),
      edge('checkout', 'payments', { connection_type: 'virtual_node', requests: 13, failed: 13, request_rate: 0.2, p99_ms: 2, breaker_state: 'open', alerts: ['A', 'B'] }),
    ]));
    expect(l.edges).toHaveLength(2);
    expect(l.requests).toBe(57);
    expect(l.failed).toBe(15);
    expect(l.errorPercent).toBeCloseTo((100 * 15) / 57);
    expect(l.p99).toBe(378);
    expect(l.breaker).toBe('open');
    expect(l.alerts).toEqual(['A', 'B']);
    expect(trouble(l)).toBe(true);
  });
  it('a messaging link says sent, received and delivered', () => {
    const [l] = links(graph([edge('checkout', 'fulfilment', { connection_type: 'messaging_system', messages_sent: 48, messages_received: 48, delivery_ratio: 48 / 55 })]));
    expect(label(l)).toEqual(['sent 48 · recv 48', 'delivered 87.3%']);
    expect(trouble(l)).toBe(true); // messages lost
  });
  it('a call says rate and p99, errors and retries when there are any', () => {
    const [l] = links(graph([edge('gateway', 'checkout', { request_rate: 0.9, p99_ms: 690, failed: 25, requests: 100, retries: 3, alerts: ['Slow'] })]));
    expect(labelLines(l)).toEqual(['⚠ Slow', '0.9/s · p99 690ms', '25% err · 3 retries']);
  });
  it('widths and colours', () => {
    expect(width(0, 10)).toBe(1.5);
    expect(width(10, 10)).toBe(7);
    expect(width(2.5, 10)).toBeGreaterThan(1.5);
    expect(severity(0.5)).toBe('ok');
    expect(severity(1)).toBe('warn');
    expect(severity(5)).toBe('bad');
    expect(crowded(60)).toBe(false);
    expect(crowded(300)).toBe(true);
  });
});
