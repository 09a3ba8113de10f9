import { defaultRange, href, parse, type View } from './route';

describe('routes', () => {
  const views: View[] = [
    { kind: 'map' },
    { kind: 'map', service: 'checkout', depth: 2, conn: 'messaging_system' },
    { kind: 'service', name: 'payment provider/eu' },
    { kind: 'edge', client: 'checkout', server: 'fulfilment', conn: 'messaging_system' },
    { kind: 'edge', client: 'checkout', server: 'payments' },
    { kind: 'traces', filters: { service: 'checkout', status: 'error', min_duration: '250ms' }, attrs: ['http.route=/cart', 'a=b c'] },
    { kind: 'trace', id: '0123456789abcdef0123456789abcdef', span: '0123456789abcdef' },
    { kind: 'logs', filters: { contains: 'circuit breaker', trace_id: 'ab' }, follow: true },
    { kind: 'alerts', state: 'firing' },
    { kind: 'catalog' },
    { kind: 'catalog', name: 'payment provider/eu', compare: '1d' },
    { kind: 'conformance', service: 'checkout', target: '0.95' },
    { kind: 'suggest', window: '10m' },
    { kind: 'ledger' },
    { kind: 'ledger', host: 'web 1/eu', all: true },
  ];
  it('every view survives its own URL', () => {
    for (const v of views) {
      const u = new URL(href(v, { from: 'now-6h', to: 'now' }), 'http://x');
      const back = parse(u.pathname, u.search);
      expect(back.view).toEqual(v);
      if (v.kind !== 'trace') expect(back.range).toEqual({ from: 'now-6h', to: 'now' });
    }
  });
  it('the default range is left out of URLs', () => {
    expect(href({ kind: 'map' }, defaultRange)).toBe('/map');
    expect(href({ kind: 'alerts' }, { from: 'now-15m', to: 'now' })).toBe('/alerts?from=now-15m');
  });
  it('an unknown path is not found, the root is the map', () => {
    expect(parse('/', '').view.kind).toBe('map');
    expect(parse('/services', '').view).toEqual({ kind: 'notfound', path: '/services' });
    expect(parse('/nope/x', '').view.kind).toBe('notfound');
  });
});
