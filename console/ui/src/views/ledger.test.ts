import type { LedgerCounts, LedgerHost, LedgerInterval } from '../api';
import * as fmt from '../format';
import { duration, explain, intervalTime, listed, standing } from './ledger';

const zero: LedgerCounts = { accepted: 0, acked: 0, dropped: 0, stored: 0, dead_lettered: 0, missing: 0, extra: 0, lost_before_kafka: 0, lost_after_kafka: 0 };

function interval(start: string, c: Partial<LedgerInterval>): LedgerInterval {
  return { ...zero, start, seconds: 60, kind: 'spans', closed: true, reported: true, runs: 1, ...c };
}

describe('the loss ledger', () => {
  it('an interval says where its records went missing, as flowlens ledger does', () => {
    expect(explain(interval('2026-12-06T04:36:00Z', { accepted: 100, acked: 100, stored: 85, dead_lettered: 3, missing: 12, lost_after_kafka: 12 })))
      .toBe('12 lost after Kafka (acknowledged, never stored)');
    expect(explain(interval('2026-12-06T04:36:00Z', { accepted: 1500, acked: 1000, stored: 990, missing: 510, lost_before_kafka: 500, lost_after_kafka: 10 })))
      .toBe("500 lost before Kafka (the agent's buffer); 10 lost after Kafka (acknowledged, never stored)");
    expect(explain(interval('2026-12-06T04:36:00Z', { accepted: 50, acked: 55, stored: 55, extra: 5, runs: 2 })))
      .toBe('5 extra (sent again after an agent restart, or its last counts lost); reported by 2 agent runs');
    expect(explain(interval('2026-12-06T04:36:00Z', { stored: 7, extra: 7, reported: false, runs: 0 })))
      .toBe('7 stored without an agent report (its agent crashed before reporting, or runs without the ledger)');
    expect(explain(interval('2026-12-06T04:36:00Z', { accepted: 10, acked: 5, stored: 5, missing: 5, closed: false }))).toBe('open: not judged yet');
    expect(explain(interval('2026-12-06T04:36:00Z', { accepted: 10, acked: 10, stored: 10 }))).toBe('whole');
  });

  it('a host with records missing stands out, one with extra records less so', () => {
    expect(standing({ ...zero, accepted: 10, stored: 9, missing: 1 })).toBe('missing');
    expect(standing({ ...zero, accepted: 10, stored: 12, extra: 2 })).toBe('extra');
    expect(standing({ ...zero, accepted: 10, stored: 10 })).toBe('whole');
  });

  it('lists the judged intervals with records missing or extra, or every one', () => {
    const a = interval('2026-12-06T04:36:00Z', { accepted: 10, stored: 8, missing: 2 });
    const b = interval('2026-12-06T04:37:00Z', { accepted: 10, stored: 10 });
    const open = interval('2026-12-06T04:38:00Z', { accepted: 10, stored: 1, missing: 9, closed: false });
    const c = interval('2026-12-06T04:36:00Z', { stored: 3, extra: 3, reported: false });
    const hosts: LedgerHost[] = [
      { name: 'web-1', closed: zero, open_intervals: 1, intervals: [a, b, open] },
      { name: 'web-2', closed: zero, open_intervals: 0, intervals: [c] },
    ];
    expect(listed(hosts, false)).toEqual([{ host: 'web-1', iv: a }, { host: 'web-2', iv: c }]);
    expect(listed(hosts, true).map((x) => x.iv)).toEqual([a, b, open, c]);
  });

  it('writes intervals and the grace as people read them', () => {
    expect(duration(120e9)).toBe('2m');
    expect(duration(3600e9)).toBe('1h');
    expect(duration(90e9)).toBe('1m 30s');
    expect(duration(0)).toBe('0ms');
    const start = '2026-12-06T04:36:00Z';
    expect(intervalTime(interval(start, {}))).toBe(fmt.time(start).slice(0, 16));
    expect(intervalTime(interval('2026-12-06T04:36:30Z', { seconds: 30 }))).toBe(fmt.time('2026-12-06T04:36:30Z').slice(0, 19));
  });
});
