import type {
  DataSourceInstanceSettings,
  MetricFindValue,
  ScopedVars,
  TimeRange,
} from '@grafana/data';
import { DataSourceWithBackend, getTemplateSrv } from '@grafana/runtime';

import { DEFAULT_QUERY, type EdgeRef, type FlowlensOptions, type FlowlensQuery } from './types';

/** Fields of a query that may hold template variables ($service). */
const TEMPLATED: Array<keyof FlowlensQuery> = [
  'service',
  'traceId',
  'operation',
  'client',
  'server',
  'contains',
  'minDuration',
  'maxDuration',
  'status',
  'severity',
  'connectionType',
  'metric',
];

/** The flowlens data source: queries run in the backend (gpx_flowlens). */
export class DataSource extends DataSourceWithBackend<FlowlensQuery, FlowlensOptions> {
  constructor(instanceSettings: DataSourceInstanceSettings<FlowlensOptions>) {
    super(instanceSettings);
  }

  getDefaultQuery(): Partial<FlowlensQuery> {
    return DEFAULT_QUERY;
  }

  /** A trace query without a trace ID has nothing to show: it is not sent. */
  filterQuery(query: FlowlensQuery): boolean {
    if (query.hide) {
      return false;
    }
    return query.queryType !== 'trace' || !!query.traceId;
  }

  applyTemplateVariables(query: FlowlensQuery, scopedVars: ScopedVars): FlowlensQuery {
    const srv = getTemplateSrv();
    const out: FlowlensQuery = { ...query };
    for (const k of TEMPLATED) {
      const v = out[k];
      if (typeof v === 'string' && v !== '') {
        (out as unknown as Record<string, unknown>)[k] = srv.replace(v, scopedVars);
      }
    }
    if (out.attributes) {
      const attrs: Record<string, string> = {};
      for (const [k, v] of Object.entries(out.attributes)) {
        attrs[srv.replace(k, scopedVars)] = srv.replace(v, scopedVars);
      }
      out.attributes = attrs;
    }
    return out;
  }

  /** Node names over the range (the /services resource). */
  services(range?: TimeRange): Promise<string[]> {
    return this.getResource('services', rangeParams(range));
  }

  /** Span names of a service over the range. */
  operations(service: string, range?: TimeRange): Promise<string[]> {
    return this.getResource('operations', { ...rangeParams(range), service: getTemplateSrv().replace(service) });
  }

  /** Edges over the range. */
  edges(range?: TimeRange): Promise<EdgeRef[]> {
    return this.getResource('edges', rangeParams(range));
  }

  /** Template variables: a services or operations query lists names. */
  async metricFindQuery(query: FlowlensQuery | string, options?: { range?: TimeRange }): Promise<MetricFindValue[]> {
    const q: FlowlensQuery = typeof query === 'string' ? { refId: 'variable', queryType: 'services' } : query;
    const names =
      q.queryType === 'operations' && q.service
        ? await this.operations(q.service, options?.range)
        : await this.services(options?.range);
    return names.map((text) => ({ text, value: text }));
  }
}

function rangeParams(range?: TimeRange): Record<string, string> {
  if (!range) {
    return {};
  }
  return { from: String(range.from.valueOf()), to: String(range.to.valueOf()) };
}
