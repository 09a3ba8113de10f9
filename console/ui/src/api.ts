// The console's JSON API (console/api.go): typed answers and one fetch.

export interface Node {
  id: string;
  type: 'service' | 'database' | 'virtual' | 'user';
  requests_in: number;
  requests_out: number;
  failed_in: number;
  error_percent: number;
  request_rate: number;
  messages_sent?: number;
  messages_received?: number;
}

export interface Breaker {
  service: string;
  target: string;
  state: string;
  since: string;
  since_first_seen?: boolean;
  transitions: Record<string, number>;
}

export interface Edge {
  id: string;
  client: string;
  server: string;
  connection_type: string;
  requests: number;
  failed: number;
  request_rate: number;
  error_percent: number;
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
  messages_sent?: number;
  messages_received?: number;
  producer_sent?: number;
  delivery_ratio?: number;
  delay_p50_ms?: number;
  delay_p99_ms?: number;
  retries?: number;
  breaker?: Breaker;
  breaker_requests?: { closed: number; open: number; half_open: number };
  breaker_transitions?: number;
  breaker_state?: string;
  alerts?: string[];
}

export interface Notice {
  severity: 'info' | 'warning';
  text: string;
}

export interface Graph {
  from: string;
  to: string;
  first_call?: string;
  last_call?: string;
  rate_seconds: number;
  nodes: Node[];
  edges: Edge[];
  breakers?: Breaker[];
  notices?: Notice[];
}

export interface Series {
  client: string;
  server: string;
  connection_type: string;
  metric: string;
  unit: string;
  values: (number | null)[];
}

export interface SeriesSet {
  step_ns: number;
  times: string[];
  series: Series[];
}

export interface KeyValue {
  key: string;
  value: string;
}

export interface SpanEvent {
  timestamp: string;
  name: string;
  attributes?: Record<string, string>;
}

export interface SpanLink {
  trace_id: string;
  span_id: string;
  attributes?: Record<string, string>;
}

export interface Span {
  timestamp: string;
  trace_id: string;
  span_id: string;
  parent_span_id?: string;
  name: string;
  kind: string;
  service_name: string;
  resource_attributes?: Record<string, string>;
  scope_name?: string;
  scope_version?: string;
  attributes?: Record<string, string>;
  duration_ns: number;
  status_code: string;
  status_message?: string;
  events?: SpanEvent[];
  links?: SpanLink[];
}

export interface LogRecord {
  timestamp: string;
  trace_id?: string;
  span_id?: string;
  severity_text?: string;
  severity_number?: number;
  service_name: string;
  body: string;
  attributes?: Record<string, string>;
  resource_attributes?: Record<string, string>;
}

export interface LinkingSpan {
  linked_span_id: string;
  timestamp: string;
  trace_id: string;
  span_id: string;
  service_name: string;
  name: string;
}

export interface Entry {
  time: string;
  kind: 'event' | 'log';
  name: string;
  body?: string;
  attributes?: KeyValue[];
}

export interface Trace {
  trace_id: string;
  spans: Span[];
  logs: LogRecord[];
  linked_from?: LinkingSpan[];
  depth: Record<string, number>;
  entries?: Record<string, Entry[]>;
}

export interface TraceHit {
  trace_id: string;
  span_id: string;
  start: string;
  service: string;
  operation: string;
  duration_ns: number;
  status: string;
}

export interface Alert {
  name: string;
  state: 'firing' | 'pending' | 'resolved';
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  value: number;
  activeAt: string;
  firedAt?: string;
  resolvedAt?: string;
  expr?: string;
}

export interface Rule {
  name: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  state: string;
  health?: string;
  lastError?: string;
}

/** WatchingRule is a rule watching an edge: its labels name it (edge) or
 * it names no single flow (all). */
export interface WatchingRule extends Rule {
  scope: 'edge' | 'all';
  alerts: Alert[];
}

export interface EdgeRules {
  configured: boolean;
  rules: WatchingRule[];
}

export interface Alerts {
  configured: boolean;
  alerts: Alert[];
}

export interface Topic {
  name: string;
  system?: string;
  sends: boolean;
  receives: boolean;
}

export interface ServiceInterface {
  service: string;
  operations: string[];
  topics: Topic[];
}

export interface PolicyField {
  name: string;
  known: boolean;
  with: number;
  share: number;
}

export interface PolicyPeer {
  name: string;
  calls: number;
  instrumented: boolean;
  messages?: boolean;
  meaning: string;
}

export interface PolicyCalls {
  calls: number;
  both: number;
  share: number;
  one_sided?: PolicyPeer[];
}

export interface PolicyService {
  name: string;
  logs?: { records: number; fields: PolicyField[] };
  client?: PolicyCalls;
  server?: PolicyCalls;
  below?: string[];
}

/** Conformance is how well each service follows the logging policy. */
export interface Conformance {
  from: string;
  to: string;
  target: number;
  services: PolicyService[];
  notes?: string[];
}

export interface SuggestFlow {
  edge?: string;
  sent?: string;
  received?: string;
  service?: string;
}

export interface Suggestion {
  kind: string;
  name: string;
  numerator?: SuggestFlow;
  denominator?: SuggestFlow;
  client?: string;
  server?: string;
  side?: string;
  mean: number;
  spread: number;
  min: number;
  max: number;
  windows: number;
  of: number;
  count: number;
  rate: number;
  expected?: number;
  tolerance?: number;
  quantile?: number;
  threshold_seconds?: number;
}

export interface SuggestSkipped {
  kind: string;
  what: string;
  reason: string;
  detail: string;
}

/** Suggestions are the rules drafted from the rollup history. */
export interface Suggestions {
  suggestions: {
    from: string;
    to: string;
    options: { window_ns: number; min_rate: number; sigmas: number };
    ratios: Suggestion[];
    latency: Suggestion[];
    skipped: SuggestSkipped[];
  };
  rule_file: string;
}

export interface CatalogCaller {
  service: string;
  calls: number;
  rate: number;
  via?: string;
}

export interface CatalogOperation {
  name: string;
  kind: 'server' | 'consumer';
  protocol?: string;
  calls: number;
  rate: number;
  errors: number;
  callers: CatalogCaller[];
}

export interface CatalogCall {
  service: string;
  connection_type: string;
  calls: number;
  rate: number;
  failed: number;
  operations?: string[];
  protocol?: string;
  via?: string;
}

export interface CatalogTopic {
  name: string;
  system?: string;
  produces: boolean;
  consumes: boolean;
}

export interface CatalogService {
  name: string;
  kind: 'service' | 'database' | 'external';
  first_seen?: string;
  last_seen?: string;
  instances?: string[];
  versions?: string[];
  protocols?: string[];
  operations?: CatalogOperation[];
  calls?: CatalogCall[];
  topics?: CatalogTopic[];
  called_by?: CatalogCaller[];
}

export interface CatalogChange {
  service: string;
  kind: string;
  what: string;
}

/** Catalog is what each service is, as observed, and what changed. */
export interface Catalog {
  from: string;
  to: string;
  rate_seconds: number;
  services: CatalogService[];
  baseline?: { from: string; to: string };
  changes?: CatalogChange[];
}

/** LedgerCounts are the loss ledger's counts and what they say (ledger.Counts). */
export interface LedgerCounts {
  accepted: number;
  acked: number;
  dropped: number;
  stored: number;
  dead_lettered: number;
  missing: number;
  extra: number;
  lost_before_kafka: number;
  lost_after_kafka: number;
}

/** LedgerInterval is one host's records of one kind accepted in one interval. */
export interface LedgerInterval extends LedgerCounts {
  start: string;
  seconds: number;
  kind: string;
  closed: boolean;
  reported: boolean;
  runs?: number;
}

export interface LedgerHost {
  name: string;
  /** closed sums the closed intervals; open_intervals counts the others. */
  closed: LedgerCounts;
  open_intervals: number;
  intervals: LedgerInterval[];
}

/** Ledger is the loss ledger of a range, per host (ledger.Report). */
export interface Ledger {
  from: string;
  to: string;
  grace_ns: number;
  hosts: LedgerHost[];
  missing: number;
  extra: number;
}

export interface About {
  analyzer: boolean;
  alerts: boolean;
  connection_types: string[];
  edge_metrics: string[];
}

/** Params are query parameters: strings, numbers, lists of strings;
 * undefined and empty ones are left out. */
export type Params = object;

/** ApiError is an answer other than 200: its message is the API's. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** url builds an API URL; empty and undefined parameters are left out. */
export function url(path: string, params: Params = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params) as [string, unknown][]) {
    if (v === undefined || v === null || v === '') continue;
    for (const one of Array.isArray(v) ? v : [v]) q.append(k, String(one));
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

/** get fetches one answer of the API. */
export async function get<T>(path: string, params: Params = {}, signal?: AbortSignal): Promise<T> {
  const res = await fetch(url(path, params), { headers: { Accept: 'application/json' }, signal });
  const body = await res.json().catch(() => ({ error: `${res.status} ${res.statusText}` }));
  if (!res.ok) throw new ApiError(res.status, body.error ?? `${res.status} ${res.statusText}`);
  return body as T;
}
