// Suggested rules: what the rollup history shows stayed stable, as a rule
// file to review, with what was observed for each rule and the flows that
// got none.
import { get, type SuggestFlow, type Suggestions } from '../api';
import { h, replace } from '../dom';
import * as fmt from '../format';
import { defaultRange } from '../route';
import { failure, heading, table } from './common';
import { at, type Ctx } from './context';

/** flowText writes one side of a ratio as the rule does. */
export function flowText(f?: SuggestFlow): string {
  if (!f) return '';
  if (f.edge?.startsWith('*->')) return `calls into ${f.edge.slice(3)}`;
  if (f.edge?.endsWith('->*')) return `calls from ${f.edge.slice(0, -3)}`;
  if (f.edge) return f.edge.replace('->', ' → ');
  const dest = (d?: string) => (d === '*' ? 'any destination' : d);
  return f.sent ? `messages ${f.service} sent to ${dest(f.sent)}` : `messages ${f.service} received from ${dest(f.received)}`;
}

/** num writes a ratio's figure with at most four significant digits. */
function num(v: number): string {
  return String(Number(v.toPrecision(4)));
}

export async function suggestView(root: HTMLElement, ctx: Ctx) {
  const v = ctx.route.view;
  if (v.kind !== 'suggest') return;
  if (ctx.route.range.from === defaultRange.from && ctx.route.range.to === defaultRange.to) {
    // an hour is too little history: a week unless the range says otherwise
    ctx.navigate(at({ ...ctx, route: { ...ctx.route, range: { from: 'now-7d', to: 'now' } } }, v), { replace: true });
    return;
  }
  const head = heading('Suggested rules');
  let s: Suggestions;
  try {
    s = await get<Suggestions>('/api/v1/suggestions', { ...ctx.route.range, window: v.window }, ctx.signal);
  } catch (err) {
    replace(root, head, failure(err));
    ctx.ready();
    return;
  }
  const r = s.suggestions;
  const minutes = r.options.window_ns / 60e9;
  const window = Number.isInteger(minutes) ? `${minutes}m` : fmt.ms(r.options.window_ns / 1e6);
  const ratios = r.ratios.map((x, i) => [
    String(i + 1),
    h('strong', {}, x.name),
    h('span', {}, flowText(x.numerator), h('span', { class: 'per' }, ' per '), flowText(x.denominator)),
    h('span', { class: 'rule-band' }, `${num(x.expected ?? 0)} ± ${num(x.tolerance ?? 0)}`),
    `${num(x.mean)} ± ${num(x.spread)} (${num(x.min)} – ${num(x.max)})`,
    `${x.windows} of ${x.of}`,
    fmt.rate(x.rate),
  ]);
  const latency = r.latency.map((x) => [
    h('strong', {}, x.name),
    `${x.client} → ${x.server}${x.side === 'server' ? ' (server side)' : ''}`,
    h('span', { class: 'rule-band' }, `p99 > ${fmt.ms((x.threshold_seconds ?? 0) * 1000)}`),
    `${fmt.ms(x.mean * 1000)} ± ${fmt.ms(x.spread * 1000)}, slowest ${fmt.ms(x.max * 1000)}`,
    `${x.windows} of ${x.of}`,
    fmt.rate(x.rate),
  ]);
  const skipped = r.skipped.map((x) => [x.what, h('span', { class: `pill skip-${x.reason.replaceAll(' ', '-')}` }, x.reason), x.detail]);
  const copy = h('button', { type: 'button', class: 'copy' }, 'copy the rule file');
  copy.addEventListener('click', () => {
    void navigator.clipboard?.writeText(s.rule_file).then(() => (copy.textContent = 'copied'));
  });
  replace(root, head,
    h('p', { class: 'summary' },
      `Drafted from the flow rollups of ${fmt.time(r.from).slice(0, 16)} to ${fmt.time(r.to).slice(0, 16)}, cut into windows of ${window} (the rules' rate window); `,
      `a window counts while the denominator is above ${r.options.min_rate}/s. Ratios are ranked by their band relative to the value, then by traffic. `,
      'Review the file, keep what you mean, and run flowlens rules check on it.'),
    h('h2', {}, `Ratios (${r.ratios.length})`),
    table(['#', 'rule', 'flows', 'alerts outside', 'observed', 'windows', 'traffic'], ratios, { cls: 'suggested-ratios', empty: 'No ratio stayed stable enough in this range.' }),
    h('h2', {}, `Latency (${r.latency.length})`),
    table(['rule', 'edge', 'alerts when', 'observed p99', 'windows', 'calls'], latency, { cls: 'suggested-latency', empty: 'No edge had enough traffic in this range.' }),
    h('h2', {}, `No rule (${r.skipped.length})`),
    table(['flows', 'why', ''], skipped, { cls: 'suggest-skipped', empty: 'Every flow got a rule.' }),
    h('h2', {}, 'The rule file ', copy),
    h('pre', { class: 'rule-file' }, s.rule_file));
  ctx.ready();
}
