import type { LogRecord } from '../api';
import { newer } from './logs';

describe('follow', () => {
  it('a poll adds only records not shown yet', () => {
    const seen = new Set<string>();
    const a: LogRecord = { timestamp: '2026-01-01T00:00:01Z', service_name: 's', body: 'a' };
    const b: LogRecord = { timestamp: '2026-01-01T00:00:02Z', service_name: 's', body: 'b' };
    expect(newer([a], seen)).toEqual([a]);
    expect(newer([b, a], seen)).toEqual([b]);
    expect(newer([b, a], seen)).toEqual([]);
  });
});
