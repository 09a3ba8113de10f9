// Every view has a URL a person can paste into a ticket: the path names the
// view and what it shows, the query its filters and time range.

export type View =
  | { kind: 'map'; service?: string; depth?: number; conn?: string }
  | { kind: 'service'; name: string }
  | { kind: 'edge'; client: string; server: string; conn?: string }
  | { kind: 'traces'; filters: Record<string, string>; attrs: string[] }
  | { kind: 'trace'; id: string; span?: string }
  | { kind: 'logs'; filters: Record<string, string>; follow: boolean }
  | { kind: 'alerts'; state?: string }
  | { kind: 'catalog'; name?: string; compare?: string }
  | { kind: 'conformance'; service?: string; target?: string }
  | { kind: 'suggest'; window?: string }
  | { kind: 'ledger'; host?: string; all?: boolean }
  | { kind: 'notfound'; path: string };

/** Range is the time range of a view: from and to as the API reads them
 * (now-1h, RFC 3339, unix seconds). */
export interface Range {
  from: string;
  to: string;
}

export const defaultRange: Range = { from: 'now-1h', to: 'now' };

export interface Route {
  view: View;
  range: Range;
}

const traceFilters = ['service', 'operation', 'min_duration', 'max_duration', 'status', 'order', 'limit'];
const logFilters = ['service', 'severity', 'contains', 'trace_id', 'limit'];

function pick(q: URLSearchParams, keys: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of keys) {
    const v = q.get(k);
    if (v) out[k] = v;
  }
  return out;
}

/** parse reads a route from a location's path and query. */
export function parse(path: string, search: string): Route {
  const q = new URLSearchParams(search);
  const range = { from: q.get('from') || defaultRange.from, to: q.get('to') || defaultRange.to };
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const view = ((): View => {
    switch (parts[0]) {
      case undefined:
      case 'map': {
        const depth = Number(q.get('depth'));
        return {
          kind: 'map',
          service: q.get('service') || undefined,
          depth: depth > 0 ? depth : undefined,
          conn: q.get('connection_type') || undefined,
        };
      }
      case 'services':
        if (parts.length === 2) return { kind: 'service', name: parts[1] };
        break;
      case 'edges':
        if (parts.length === 3) return { kind: 'edge', client: parts[1], server: parts[2], conn: q.get('connection_type') ?? undefined };
        break;
      case 'traces':
        if (parts.length === 1) return { kind: 'traces', filters: pick(q, traceFilters), attrs: q.getAll('attr') };
        if (parts.length === 2) return { kind: 'trace', id: parts[1], span: q.get('span') || undefined };
        break;
      case 'logs':
        if (parts.length === 1) return { kind: 'logs', filters: pick(q, logFilters), follow: q.get('follow') === '1' };
        break;
      case 'alerts':
        if (parts.length === 1) return { kind: 'alerts', state: q.get('state') || undefined };
        break;
      case 'catalog':
        if (parts.length <= 2) return { kind: 'catalog', name: parts[1], compare: q.get('compare') || undefined };
        break;
      case 'conformance':
        if (parts.length === 1) return { kind: 'conformance', service: q.get('service') || undefined, target: q.get('target') || undefined };
        break;
      case 'suggest':
        if (parts.length === 1) return { kind: 'suggest', window: q.get('window') || undefined };
        break;
      case 'ledger':
        if (parts.length === 1) return { kind: 'ledger', host: q.get('host') || undefined, all: q.get('intervals') === 'all' || undefined };
        break;
    }
    return { kind: 'notfound', path };
  })();
  return { view, range };
}

/** href is the URL of a view over a range; the default range is left out. */
export function href(view: View, range: Range = defaultRange): string {
  const q = new URLSearchParams();
  const seg = (s: string) => encodeURIComponent(s);
  let path: string;
  switch (view.kind) {
    case 'map':
      path = '/map';
      if (view.service) q.set('service', view.service);
      if (view.depth) q.set('depth', String(view.depth));
      if (view.conn) q.set('connection_type', view.conn);
      break;
    case 'service':
      path = `/services/${seg(view.name)}`;
      break;
    case 'edge':
      path = `/edges/${seg(view.client)}/${seg(view.server)}`;
      if (view.conn !== undefined) q.set('connection_type', view.conn);
      break;
    case 'traces':
      path = '/traces';
      for (const [k, v] of Object.entries(view.filters)) if (v) q.set(k, v);
      for (const a of view.attrs) q.append('attr', a);
      break;
    case 'trace':
      path = `/traces/${seg(view.id)}`;
      if (view.span) q.set('span', view.span);
      break;
    case 'logs':
      path = '/logs';
      for (const [k, v] of Object.entries(view.filters)) if (v) q.set(k, v);
      if (view.follow) q.set('follow', '1');
      break;
    case 'alerts':
      path = '/alerts';
      if (view.state) q.set('state', view.state);
      break;
    case 'catalog':
      path = view.name ? `/catalog/${seg(view.name)}` : '/catalog';
      if (view.compare) q.set('compare', view.compare);
      break;
    case 'conformance':
      path = '/conformance';
      if (view.service) q.set('service', view.service);
      if (view.target) q.set('target', view.target);
      break;
    case 'suggest':
      path = '/suggest';
      if (view.window) q.set('window', view.window);
      break;
    case 'ledger':
      path = '/ledger';
      if (view.host) q.set('host', view.host);
      if (view.all) q.set('intervals', 'all');
      break;
    case 'notfound':
      return view.path;
  }
  if (view.kind !== 'trace') {
    if (range.from !== defaultRange.from) q.set('from', range.from);
    if (range.to !== defaultRange.to) q.set('to', range.to);
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}
