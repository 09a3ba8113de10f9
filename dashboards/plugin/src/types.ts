import type { DataSourceJsonData } from '@grafana/data';
import type { DataQuery } from '@grafana/schema';

/** Query types the backend answers (dashboards/plugin/plugin.go). */
export type QueryType = 'nodegraph' | 'trace' | 'traces' | 'logs' | 'edges' | 'services' | 'operations' | 'alerts';

export const QUERY_TYPES: Array<{ value: QueryType; label: string; description: string }> = [
  { value: 'nodegraph', label: 'Flow graph', description: 'The service call graph for the Node Graph panel' },
  { value: 'edges', label: 'Edge series', description: 'Rate, errors, latency, delivery ratio, retries, breaker state per edge' },
  { value: 'trace', label: 'Trace', description: 'One trace by ID, for the trace view' },
  { value: 'traces', label: 'Trace search', description: 'Traces by service, operation, duration, status, attributes' },
  { value: 'logs', label: 'Logs', description: 'Log search' },
  { value: 'services', label: 'Services', description: 'Node names (template variables)' },
  { value: 'operations', label: 'Operations', description: "A service's span names (template variables)" },
  { value: 'alerts', label: 'Flow alerts', description: "The rules evaluator's pending and firing alerts" },
];

/** Connection types an edge filter takes; "" is any. */
export const CONNECTION_TYPES = ['unset', 'messaging_system', 'database', 'virtual_node'];

/** Series of an edges query; "" is all of them. */
export const EDGE_METRICS = ['rate', 'errors', 'error_percent', 'p50', 'p95', 'p99', 'delivery_ratio', 'retries', 'breaker_state'];

/** The query model: dashboards/plugin/query.go's Query. */
export interface FlowlensQuery extends DataQuery {
  queryType?: QueryType;
  service?: string;
  depth?: number;
  connectionType?: string;
  traceId?: string;
  operation?: string;
  minDuration?: string;
  maxDuration?: string;
  status?: string;
  attributes?: Record<string, string>;
  orderBy?: 'newest' | 'slowest';
  severity?: string;
  contains?: string;
  client?: string;
  server?: string;
  metric?: string;
  limit?: number;
}

export const DEFAULT_QUERY: Partial<FlowlensQuery> = { queryType: 'nodegraph' };

/** jsonData of the data source: dashboards/plugin/settings.go. */
export interface FlowlensOptions extends DataSourceJsonData {
  address?: string;
  database?: string;
  analyzerUrl?: string;
  alertsUrl?: string;
  timeoutSeconds?: number;
}

/** secureJsonData of the data source. */
export interface FlowlensSecureOptions {
  username?: string;
  password?: string;
}

/** An edge as the /edges resource lists it. */
export interface EdgeRef {
  client: string;
  server: string;
  connectionType: string;
}

/** Reads "key=value key2=value2" (values may be double-quoted) into attributes. */
export function parseAttributes(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /([^\s=]+)=("((?:[^"\\]|\\.)*)"|\S*)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    out[m[1]] = m[3] !== undefined ? m[3].replace(/\\(.)/g, '$1') : m[2];
  }
  return out;
}

/** Writes attributes back as parseAttributes reads them. */
export function formatAttributes(attrs?: Record<string, string>): string {
  if (!attrs) {
    return '';
  }
  return Object.keys(attrs)
    .sort()
    .map((k) => {
      const v = attrs[k];
      return /^[^\s"]*$/.test(v) && v !== '' ? `${k}=${v}` : `${k}="${v.replace(/(["\\])/g, '\\$1')}"`;
    })
    .join(' ');
}
