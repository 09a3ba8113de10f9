import type { LogRecord, Span, Trace } from './api';
import { ticks, waterfall } from './waterfall';

const span = (id: string, parent: string, startMs: number, durMs: number, service = 'svc'): Span => ({
  timestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, 0, startMs)).toISOString().replace('Z', '123Z'),
  trace_id: 't', span_id: id, parent_span_id: parent, name: `op ${id}`, kind: 'Server', service_name: service,
  duration_ns: durMs * 1e6, status_code: 'Unset',
});
const log = (spanID: string, atMs: number, body: string): LogRecord => ({
  timestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, 0, atMs)).toISOString(), span_id: spanID, service_name: 'svc', body,
});

describe('waterfall', () => {
  it('spans in tree order, each followed by its entries; logs outside spans at the end', () => {
    const tr: Trace = {
      trace_id: 't',
      spans: [span('c2', 'root', 30, 5), span('root', '', 0, 100, 'gateway'), span('c1', 'root', 10, 10), span('g1', 'c1', 12, 2), span('orphan', 'gone', 50, 1)],
      logs: [log('c1', 11, 'in c1'), log('', 200, 'no span'), log('nope', 150, 'unknown span')],
      depth: {},
      entries: { c1: [{ time: new Date(Date.UTC(2026, 0, 1, 0, 0, 0, 11)).toISOString(), kind: 'log', name: 'INFO', body: 'in c1' }] },
    };
    const wf = waterfall(tr);
    const shape = wf.rows.map((r) => (r.kind === 'span' ? `${r.span.span_id}@${r.depth}` : r.kind === 'entry' ? `entry:${r.span.span_id}` : `log:${r.log.body}`));
    expect(shape).toEqual(['root@0', 'c1@1', 'entry:c1', 'g1@2', 'c2@1', 'orphan@0', 'log:unknown span', 'log:no span']);
    expect(wf.totalMs).toBeCloseTo(200 - 0.123, 3); // spans start 123 µs past their millisecond, the last log on it
    expect(wf.services).toEqual(['gateway', 'svc']);
    const c1 = wf.rows[1];
    expect(c1.kind === 'span' && c1.offsetMs).toBeCloseTo(10, 6);
  });
  it('survives a cycle of parents', () => {
    const tr: Trace = { trace_id: 't', spans: [span('x', 'y', 0, 1), span('y', 'x', 1, 1)], logs: [], depth: {} };
    expect(waterfall(tr).rows.filter((r) => r.kind === 'span')).toHaveLength(2);
  });
  it('round ticks', () => {
    expect(ticks(377)).toEqual([0, 100, 200, 300]);
    expect(ticks(0)).toEqual([0]);
    expect(ticks(2.2)).toEqual([0, 0.5, 1, 1.5, 2]);
  });
});
