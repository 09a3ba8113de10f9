// The console's page: a header with the views and the time range, and the
// view of the URL below it. Links inside the page change the view without
// reloading it; every view's URL can be pasted elsewhere.
import './style.css';
import { get, type About } from './api';
import { h, link, replace } from './dom';
import * as fmt from './format';
import { defaultRange, href, parse, type Route, type View } from './route';
import { alertsView } from './views/alerts';
import { catalogView } from './views/catalog';
import { conformanceView } from './views/conformance';
import type { Ctx } from './views/context';
import { edgeView } from './views/edge';
import { ledgerView } from './views/ledger';
import { logsView } from './views/logs';
import { mapView } from './views/map';
import { serviceView } from './views/service';
import { suggestView } from './views/suggest';
import { traceView } from './views/trace';
import { tracesView } from './views/traces';

const ranges: [string, string][] = [
  ['now-5m', 'last 5 minutes'],
  ['now-15m', 'last 15 minutes'],
  ['now-1h', 'last hour'],
  ['now-6h', 'last 6 hours'],
  ['now-24h', 'last 24 hours'],
  ['now-7d', 'last 7 days'],
];

const views: Record<View['kind'], (root: HTMLElement, ctx: Ctx) => Promise<void>> = {
  map: mapView,
  service: serviceView,
  edge: edgeView,
  traces: tracesView,
  trace: traceView,
  logs: logsView,
  alerts: alertsView,
  conformance: conformanceView,
  catalog: catalogView,
  suggest: suggestView,
  ledger: ledgerView,
  notfound: async (root, ctx) => {
    replace(root, h('h1', {}, 'Not found'), h('p', {}, 'No view has this address. ', link('/map', 'The flow map')));
    ctx.ready();
  },
};

function section(v: View): string {
  switch (v.kind) {
    case 'map':
    case 'service':
    case 'edge':
      return 'map';
    case 'trace':
      return 'traces';
  }
  return v.kind;
}

/** rangeLabel names a range that is not a preset: its ends, to the minute. */
export function rangeLabel(from: string, to: string): string {
  const t = (s: string) => {
    const d = new Date(/^\d+$/.test(s) ? Number(s) * (s.length > 12 ? 1 : 1000) : s);
    return isNaN(d.getTime()) ? s : fmt.time(d).slice(0, 16);
  };
  const a = t(from);
  const b = t(to);
  return `${a} – ${a.slice(0, 10) === b.slice(0, 10) ? b.slice(11) : b}`;
}

async function start() {
  const app = document.getElementById('app')!;
  const about = await get<About>('/api/v1/about').catch(() => ({ analyzer: false, alerts: false, connection_types: [], edge_metrics: [] }) as About);
  const nav = h('nav', { class: 'sections', 'aria-label': 'views' },
    link('/map', 'Flow map'), link('/catalog', 'Catalog'), link('/traces', 'Traces'), link('/logs', 'Logs'), link('/alerts', 'Alerts'),
    link('/suggest', 'Suggested rules'), link('/conformance', 'Logging policy'), link('/ledger', 'Loss ledger'));
  const rangeSel = h('select', { 'aria-label': 'time range' });
  const refresh = h('button', { type: 'button', title: 'load again', 'aria-label': 'refresh' }, '↻');
  const main = h('main', { id: 'view', tabindex: -1 });
  replace(app, h('header', { class: 'top' }, link('/map', h('span', { class: 'logo' }, 'flowlens')), nav, h('div', { class: 'range' }, rangeSel, refresh)), main);

  let current: { abort: AbortController; cleanups: (() => void)[] } | null = null;
  let route: Route;
  const render = async () => {
    current?.abort.abort();
    current?.cleanups.forEach((f) => f());
    const me = { abort: new AbortController(), cleanups: [] as (() => void)[] };
    current = me;
    route = parse(location.pathname, location.search);
    const sec = section(route.view);
    nav.querySelectorAll('a').forEach((a) => (a.getAttribute('href') === `/${sec}` ? a.setAttribute('aria-current', 'page') : a.removeAttribute('aria-current')));
    const custom = !ranges.some(([v]) => v === route.range.from) || route.range.to !== defaultRange.to;
    const opts = custom ? [...ranges, [route.range.from, rangeLabel(route.range.from, route.range.to)] as [string, string]] : ranges;
    replace(rangeSel, ...opts.map(([v, label], i) => h('option', { value: v, selected: custom ? i === opts.length - 1 : v === route.range.from }, label)));
    rangeSel.disabled = route.view.kind === 'trace';
    main.dataset.state = 'loading';
    main.dataset.view = route.view.kind;
    const ctx: Ctx = {
      route,
      about,
      navigate,
      signal: me.abort.signal,
      onCleanup: (f) => me.cleanups.push(f),
      ready: () => {
        if (current !== me) return;
        main.dataset.state = 'ready';
        performance.mark('view-ready', { detail: route.view.kind }); // for the render benchmarks
      },
    };
    if (!main.hasChildNodes()) main.append(h('p', { class: 'loading' }, 'loading…'));
    try {
      await views[route.view.kind](main, ctx);
    } catch (err) {
      if (me.abort.signal.aborted) return;
      replace(main, h('div', { class: 'error', role: 'alert' }, String(err)));
      ctx.ready();
    }
    document.title = `${main.querySelector('h1')?.textContent ?? 'flowlens'} · flowlens`;
  };
  const navigate = (to: string, opts: { replace?: boolean } = {}) => {
    if (opts.replace) history.replaceState(null, '', to);
    else history.pushState(null, '', to);
    void render().then(() => main.focus({ preventScroll: true }));
  };
  document.addEventListener('click', (ev) => {
    const a = (ev.target as Element).closest?.('a');
    if (!a || a.origin !== location.origin || ev.metaKey || ev.ctrlKey || ev.shiftKey || a.target) return;
    if (a.pathname.startsWith('/api/')) return;
    ev.preventDefault();
    navigate(a.pathname + a.search);
  });
  window.addEventListener('popstate', () => void render());
  rangeSel.addEventListener('change', () => navigate(href(route.view, { from: rangeSel.value, to: defaultRange.to })));
  refresh.addEventListener('click', () => void render());
  await render();
}

void start();
