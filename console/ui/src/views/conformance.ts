// The logging policy: per service, the share of its log records carrying
// each field, and of its calls recorded on both sides, with the calls
// recorded on one side only and what they point at.
import { get, type Conformance, type PolicyCalls } from '../api';
import { h, link, replace } from '../dom';
import * as fmt from '../format';
import { failure, heading, table } from './common';
import { at, type Ctx } from './context';

/** fieldLabel names a policy field as a column head. */
export function fieldLabel(f: string): string {
  return f.replace('_', ' ');
}

export async function conformanceView(root: HTMLElement, ctx: Ctx) {
  const v = ctx.route.view;
  if (v.kind !== 'conformance') return;
  const target = h('input', { name: 'target', value: v.target ?? '0.99', size: 5 });
  const service = h('input', { name: 'service', value: v.service ?? '', placeholder: 'every service', size: 16 });
  const form = h('form', { class: 'filters search', role: 'search' },
    h('label', {}, 'service', service), h('label', {}, 'target', target), h('button', { type: 'submit' }, 'show'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    ctx.navigate(at(ctx, { kind: 'conformance', service: service.value.trim() || undefined, target: target.value.trim() || undefined }));
  });
  const head = heading('Logging policy');
  let rep: Conformance;
  try {
    rep = await get<Conformance>('/api/v1/conformance', { ...ctx.route.range, service: v.service, target: v.target }, ctx.signal);
  } catch (err) {
    replace(root, head, form, failure(err));
    ctx.ready();
    return;
  }
  const fields = rep.services.find((s) => s.logs)?.logs?.fields.filter((f) => f.known).map((f) => f.name) ?? [];
  const share = (s: number) => {
    const below = s < rep.target;
    return h('span', { class: below ? 'share bad' : 'share' }, fmt.ratio(s), below ? ' ✗' : '');
  };
  const calls = (c?: PolicyCalls) => (c ? [fmt.count(c.calls), share(c.share)] : ['–', '–']);
  const rows = rep.services.map((s) => [
    link(at(ctx, { kind: 'service', name: s.name }), s.name),
    s.logs ? fmt.count(s.logs.records) : '–',
    ...fields.map((name) => {
      const f = s.logs?.fields.find((x) => x.name === name);
      return f ? share(f.share) : '–';
    }),
    ...calls(s.client),
    ...calls(s.server),
  ]);
  const oneSided: (Node | string)[][] = [];
  for (const s of rep.services) {
    const sides: [PolicyCalls | undefined, (peer: string) => [string, string]][] = [
      [s.client, (peer) => [s.name, peer]],
      [s.server, (peer) => [peer, s.name]],
    ];
    for (const [c, ends] of sides) {
      for (const p of c?.one_sided ?? []) {
        const [client, server] = ends(p.name);
        oneSided.push([link(at(ctx, { kind: 'edge', client, server, conn: 'virtual_node' }), `${client} → ${server}`), fmt.count(p.calls), p.meaning]);
      }
    }
  }
  replace(root, head, form,
    h('p', { class: 'summary' }, `Every log record carries the service's name, an instance, a severity and the trace ID; every call is recorded on both sides. Shares below ${fmt.ratio(rep.target)} are marked ✗.`),
    table(['service', 'log records', ...fields.map(fieldLabel), 'calls made', 'both sides', 'calls served', 'both sides'], rows,
      { cls: 'conformance', empty: 'No log record and no call in this range.' }),
    h('h2', {}, 'Calls recorded on one side only'),
    table(['calls', 'count', 'what they point at'], oneSided, { cls: 'one-sided', empty: 'Every call was recorded on both sides.' }),
    ...(rep.notes ?? []).map((n) => h('p', { class: 'hint' }, n)));
  ctx.ready();
}
