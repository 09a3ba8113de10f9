// The rows of a trace's waterfall: spans in tree order (children under
// their parent, by start time), each followed by its events and logs, and
// the trace's logs outside any span at the end.
import type { Entry, LogRecord, Span, Trace } from './api';

export type Row =
  | { kind: 'span'; span: Span; depth: number; offsetMs: number; durationMs: number }
  | { kind: 'entry'; span: Span; entry: Entry; depth: number; offsetMs: number }
  | { kind: 'log'; log: LogRecord; offsetMs: number };

export interface Waterfall {
  rows: Row[];
  startMs: number; // epoch ms of the earliest span or log
  totalMs: number; // from the start to the latest end
  services: string[];
}

export const msOf = (iso: string) => new Date(iso).getTime() + fraction(iso);

// the sub-millisecond part of an RFC 3339 time, in ms: Date keeps whole
// milliseconds, and spans of a few microseconds need the rest
function fraction(iso: string): number {
  const m = /\.(\d+)/.exec(iso);
  if (!m || m[1].length <= 3) return 0;
  return Number(`0.${m[1].slice(3)}`);
}

export function waterfall(tr: Trace): Waterfall {
  const ids = new Set(tr.spans.map((s) => s.span_id));
  const children = new Map<string, Span[]>();
  const roots: Span[] = [];
  for (const s of tr.spans) {
    const p = s.parent_span_id;
    if (p && ids.has(p) && p !== s.span_id) {
      const list = children.get(p) ?? [];
      list.push(s);
      children.set(p, list);
    } else roots.push(s);
  }
  const byStart = (a: Span, b: Span) => msOf(a.timestamp) - msOf(b.timestamp);
  roots.sort(byStart);
  for (const list of children.values()) list.sort(byStart);

  let start = Infinity;
  let end = -Infinity;
  for (const s of tr.spans) {
    const t = msOf(s.timestamp);
    start = Math.min(start, t);
    end = Math.max(end, t + s.duration_ns / 1e6);
  }
  for (const l of tr.logs) {
    const t = msOf(l.timestamp);
    start = Math.min(start, t);
    end = Math.max(end, t);
  }
  if (!isFinite(start)) start = end = 0;

  const rows: Row[] = [];
  const seen = new Set<string>();
  const walk = (s: Span, depth: number) => {
    if (seen.has(s.span_id)) return; // a cycle in broken data
    seen.add(s.span_id);
    const off = msOf(s.timestamp) - start;
    rows.push({ kind: 'span', span: s, depth, offsetMs: off, durationMs: s.duration_ns / 1e6 });
    for (const e of tr.entries?.[s.span_id] ?? []) rows.push({ kind: 'entry', span: s, entry: e, depth: depth + 1, offsetMs: msOf(e.time) - start });
    for (const c of children.get(s.span_id) ?? []) walk(c, depth + 1);
  };
  for (const r of roots) walk(r, 0);
  // spans only reachable through a cycle
  for (const s of tr.spans) if (!seen.has(s.span_id)) walk(s, 0);
  const outside = tr.logs.filter((l) => !l.span_id || !ids.has(l.span_id)).sort((a, b) => msOf(a.timestamp) - msOf(b.timestamp));
  for (const l of outside) rows.push({ kind: 'log', log: l, offsetMs: msOf(l.timestamp) - start });
  const services = [...new Set(tr.spans.map((s) => s.service_name))].sort();
  return { rows, startMs: start, totalMs: Math.max(0, end - start), services };
}

/** ticks are round offsets for the waterfall's time axis: about n of them. */
export function ticks(totalMs: number, n = 5): number[] {
  if (totalMs <= 0) return [0];
  const raw = totalMs / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let t = 0; t <= totalMs + 1e-9; t += step) out.push(Math.round(t * 1e6) / 1e6);
  return out;
}
