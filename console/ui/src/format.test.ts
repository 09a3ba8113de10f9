import * as fmt from './format';

describe('format', () => {
  it('rates read at a glance', () => {
    expect(fmt.rate(0)).toBe('0/s');
    expect(fmt.rate(0.05)).toBe('0.05/s');
    expect(fmt.rate(4.24)).toBe('4.2/s');
    expect(fmt.rate(0.15)).toBe('0.15/s'); // axis ticks 0.1 and 0.15 stay apart
    expect(fmt.rate(43.2)).toBe('43/s');
    expect(fmt.rate(1234)).toBe('1.2k/s');
  });
  it('a delivery ratio just under 1 is not 100%', () => {
    expect(fmt.ratio(0.9997)).toBe('99.97%');
    expect(fmt.ratio(1)).toBe('100%');
    expect(fmt.ratio(0.8727)).toBe('87.3%');
  });
  it('percentages and durations', () => {
    expect(fmt.percent(0)).toBe('0%');
    expect(fmt.percent(0.04)).toBe('<0.1%');
    expect(fmt.percent(2.915)).toBe('2.9%');
    expect(fmt.percent(25.45)).toBe('25%');
    expect(fmt.ms(0.09)).toBe('90µs');
    expect(fmt.ms(49.59)).toBe('49.6ms');
    expect(fmt.ms(377.5)).toBe('378ms');
    expect(fmt.ms(1250)).toBe('1.25s');
    expect(fmt.ms(125_000)).toBe('2m 5s');
    expect(fmt.ns(22_500_000)).toBe('22.5ms');
  });
  it('names for people', () => {
    expect(fmt.connection('')).toBe('call');
    expect(fmt.connection('messaging_system')).toBe('messages');
    expect(fmt.breaker('half_open')).toBe('half-open');
    expect(fmt.count(1234)).toBe('1,234');
    expect(fmt.ago('2026-01-01T00:00:00Z', new Date('2026-01-01T00:03:00Z'))).toBe('3m ago');
  });
});
