// Numbers and times as people read them.

/** rate formats events per second: 0.05/s, 4.2/s, 1.2k/s. */
export function rate(perSecond: number): string {
  if (!isFinite(perSecond) || perSecond === 0) return '0/s';
  if (perSecond >= 1000) return `${trim(perSecond / 1000, 1)}k/s`;
  if (perSecond >= 10) return `${Math.round(perSecond)}/s`;
  if (perSecond >= 1) return `${trim(perSecond, 1)}/s`;
  if (perSecond >= 0.01) return `${trim(perSecond, 2)}/s`;
  return `${trim(perSecond, 3)}/s`;
}

/** percent formats a percentage (0-100): 0%, 0.4%, 12%, 100%. */
export function percent(p: number): string {
  if (!isFinite(p) || p === 0) return '0%';
  if (p < 0.1) return '<0.1%';
  if (p < 10) return `${trim(p, 1)}%`;
  return `${Math.round(p)}%`;
}

/** ratio formats a ratio (0-1) as a percentage with the precision a
 * delivery ratio needs: 99.97% is not 100%. */
export function ratio(r: number): string {
  if (!isFinite(r)) return '–';
  const p = r * 100;
  if (p === 100 || p === 0) return `${p}%`;
  if (p > 99) return `${trim(p, 2)}%`;
  return `${trim(p, 1)}%`;
}

/** ms formats milliseconds: 850µs, 12ms, 1.25s, 2m 5s. */
export function ms(v: number): string {
  if (!isFinite(v)) return '–';
  if (v === 0) return '0ms';
  if (v < 1) return `${Math.round(v * 1000)}µs`;
  if (v < 100) return `${trim(v, 1)}ms`;
  if (v < 1000) return `${Math.round(v)}ms`;
  if (v < 60_000) return `${trim(v / 1000, 2)}s`;
  const m = Math.floor(v / 60_000);
  return `${m}m ${Math.round((v - m * 60_000) / 1000)}s`;
}

/** ns formats a duration in nanoseconds (spans). */
export function ns(v: number): string {
  return ms(v / 1e6);
}

/** count formats a count: 999, 1,234, 1.2M. */
export function count(n: number): string {
  if (n >= 10_000_000) return `${trim(n / 1e6, 1)}M`;
  return n.toLocaleString('en-US');
}

/** time formats a timestamp as local date and time to the millisecond. */
export function time(iso: string | Date): string {
  const d = typeof iso === 'string' ? new Date(iso) : iso;
  if (isNaN(d.getTime())) return '–';
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

/** ago says how long before now a time was: 5s ago, 3m ago, 2h ago. */
export function ago(iso: string, now: Date = new Date()): string {
  const s = Math.max(0, (now.getTime() - new Date(iso).getTime()) / 1000);
  if (s < 60) return `${Math.round(s)}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${trim(s / 3600, 1)}h ago`;
  return `${trim(s / 86400, 1)}d ago`;
}

/** connection names an edge's connection type for people. */
export function connection(t: string): string {
  switch (t) {
    case '':
    case 'unset':
      return 'call';
    case 'messaging_system':
      return 'messages';
    case 'database':
      return 'database';
    case 'virtual_node':
      return 'virtual';
  }
  return t;
}

/** breaker names a breaker state for people. */
export function breaker(state: string): string {
  return state === 'half_open' ? 'half-open' : state;
}

function trim(v: number, digits: number): string {
  return String(Number(v.toFixed(digits)));
}
