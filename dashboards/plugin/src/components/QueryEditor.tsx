import React, { type ChangeEvent, useEffect, useState } from 'react';
import type { QueryEditorProps, SelectableValue } from '@grafana/data';
import { InlineField, InlineFieldRow, Input, Select } from '@grafana/ui';

import type { DataSource } from '../datasource';
import {
  CONNECTION_TYPES,
  EDGE_METRICS,
  type EdgeRef,
  type FlowlensOptions,
  type FlowlensQuery,
  formatAttributes,
  parseAttributes,
  QUERY_TYPES,
  type QueryType,
} from '../types';

type Props = QueryEditorProps<DataSource, FlowlensQuery, FlowlensOptions>;

const LABEL = 14;

const anyOption = (label = 'any'): SelectableValue<string> => ({ label, value: '' });
const toOptions = (names: string[]): Array<SelectableValue<string>> => names.map((n) => ({ label: n, value: n }));

/** Which fields each query type reads. */
const USES: Record<QueryType, Array<'service' | 'depth' | 'conn' | 'traceId' | 'search' | 'logs' | 'edge' | 'limit' | 'state'>> = {
  nodegraph: ['service', 'depth', 'conn'],
  trace: ['traceId'],
  traces: ['service', 'search', 'limit'],
  logs: ['service', 'logs', 'traceId', 'limit'],
  edges: ['edge', 'service', 'conn'],
  services: [],
  operations: ['service'],
  alerts: ['state'],
};

/** Loads picker options once per dependency change; failures leave the list empty. */
function useOptions<T>(load: () => Promise<T[]> | undefined, deps: unknown[]): T[] {
  const [items, setItems] = useState<T[]>([]);
  useEffect(() => {
    let live = true;
    const p = load();
    if (!p) {
      setItems([]);
      return;
    }
    p.then((v) => live && setItems(v ?? [])).catch(() => live && setItems([]));
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  return items;
}

export function QueryEditor({ query, onChange, onRunQuery, datasource, range }: Props) {
  const type: QueryType = query.queryType ?? 'nodegraph';
  const uses = USES[type];
  const from = range?.from.valueOf();
  const to = range?.to.valueOf();
  const services = useOptions<string>(() => (uses.includes('service') ? datasource.services(range) : undefined), [type, from, to]);
  const operations = useOptions<string>(
    () => (type === 'traces' && query.service ? datasource.operations(query.service, range) : undefined),
    [type, query.service, from, to]
  );
  const edges = useOptions<EdgeRef>(() => (type === 'edges' ? datasource.edges(range) : undefined), [type, from, to]);
  const [attrText, setAttrText] = useState(formatAttributes(query.attributes));

  const set = (patch: Partial<FlowlensQuery>, run = true) => {
    onChange({ ...query, ...patch });
    if (run) {
      onRunQuery();
    }
  };
  const text = (key: keyof FlowlensQuery) => ({
    value: (query[key] as string | undefined) ?? '',
    onChange: (e: ChangeEvent<HTMLInputElement>) => onChange({ ...query, [key]: e.currentTarget.value }),
    onBlur: () => onRunQuery(),
  });
  const number = (key: 'depth' | 'limit') => ({
    type: 'number',
    value: query[key] ?? '',
    onChange: (e: ChangeEvent<HTMLInputElement>) =>
      onChange({ ...query, [key]: e.currentTarget.value === '' ? undefined : Number(e.currentTarget.value) }),
    onBlur: () => onRunQuery(),
  });
  const edgeValue = query.client || query.server ? `${query.client ?? ''}->${query.server ?? ''}` : '';

  return (
    <>
      <InlineFieldRow>
        <InlineField label="Query" labelWidth={LABEL}>
          <Select
            inputId="flowlens-query-type"
            aria-label="Query type"
            width={24}
            options={QUERY_TYPES}
            value={type}
            onChange={(v) => set({ queryType: v.value as QueryType })}
          />
        </InlineField>
        {uses.includes('service') && (
          <InlineField label="Service" labelWidth={LABEL}>
            <Select
              inputId="flowlens-service"
              aria-label="Service"
              width={28}
              isClearable
              allowCustomValue
              options={toOptions(services)}
              value={query.service ? { label: query.service, value: query.service } : null}
              onChange={(v) => set({ service: v?.value ?? '' })}
            />
          </InlineField>
        )}
        {uses.includes('depth') && (
          <InlineField label="Depth" labelWidth={8} tooltip="Hops around the service (default 1)">
            <Input id="flowlens-depth" width={8} min={0} {...number('depth')} />
          </InlineField>
        )}
        {uses.includes('state') && (
          <InlineField label="State" labelWidth={8}>
            <Select
              inputId="flowlens-alert-state"
              aria-label="Alert state"
              width={14}
              options={[anyOption(), ...toOptions(['firing', 'pending', 'resolved'])]}
              value={query.status ?? ''}
              onChange={(v) => set({ status: v.value ?? '' })}
            />
          </InlineField>
        )}
        {uses.includes('conn') && (
          <InlineField label="Connection" labelWidth={12}>
            <Select
              inputId="flowlens-connection-type"
              aria-label="Connection type"
              width={22}
              options={[anyOption(), ...toOptions(CONNECTION_TYPES)]}
              value={query.connectionType ?? ''}
              onChange={(v) => set({ connectionType: v.value ?? '' })}
            />
          </InlineField>
        )}
      </InlineFieldRow>

      {uses.includes('edge') && (
        <InlineFieldRow>
          <InlineField label="Edge" labelWidth={LABEL} tooltip="client -> server; leave empty for every edge of the service">
            <Select
              inputId="flowlens-edge"
              aria-label="Edge"
              width={40}
              isClearable
              options={edges.map((e) => ({
                label: `${e.client} → ${e.server}${e.connectionType ? ` (${e.connectionType})` : ''}`,
                value: `${e.client}->${e.server}`,
              }))}
              value={edgeValue ? { label: edgeValue.replace('->', ' → '), value: edgeValue } : null}
              onChange={(v) => {
                const [client, server] = (v?.value ?? '->').split('->');
                set({ client, server });
              }}
            />
          </InlineField>
          <InlineField label="Metric" labelWidth={10}>
            <Select
              inputId="flowlens-metric"
              aria-label="Metric"
              width={20}
              options={[anyOption('all'), ...toOptions(EDGE_METRICS)]}
              value={query.metric ?? ''}
              onChange={(v) => set({ metric: v.value ?? '' })}
            />
          </InlineField>
        </InlineFieldRow>
      )}

      {uses.includes('search') && (
        <InlineFieldRow>
          <InlineField label="Operation" labelWidth={LABEL}>
            <Select
              inputId="flowlens-operation"
              aria-label="Operation"
              width={28}
              isClearable
              allowCustomValue
              options={toOptions(operations)}
              value={query.operation ? { label: query.operation, value: query.operation } : null}
              onChange={(v) => set({ operation: v?.value ?? '' })}
            />
          </InlineField>
          <InlineField label="Duration" labelWidth={10} tooltip="Bounds like 250ms or 1.5s">
            <Input id="flowlens-min-duration" width={10} placeholder="min" {...text('minDuration')} />
          </InlineField>
          <InlineField>
            <Input id="flowlens-max-duration" width={10} placeholder="max" {...text('maxDuration')} />
          </InlineField>
          <InlineField label="Status" labelWidth={8}>
            <Select
              inputId="flowlens-status"
              aria-label="Status"
              width={12}
              options={[anyOption(), ...toOptions(['ok', 'error', 'unset'])]}
              value={query.status ?? ''}
              onChange={(v) => set({ status: v.value ?? '' })}
            />
          </InlineField>
          <InlineField label="Attributes" labelWidth={12} tooltip='key=value pairs, all must match: http.route="/cart" region=eu'>
            <Input
              id="flowlens-attributes"
              width={36}
              value={attrText}
              onChange={(e: ChangeEvent<HTMLInputElement>) => setAttrText(e.currentTarget.value)}
              onBlur={() => set({ attributes: parseAttributes(attrText) })}
            />
          </InlineField>
          <InlineField label="Order" labelWidth={8}>
            <Select
              inputId="flowlens-order"
              aria-label="Order"
              width={12}
              options={[
                { label: 'newest', value: 'newest' },
                { label: 'slowest', value: 'slowest' },
              ]}
              value={query.orderBy ?? 'newest'}
              onChange={(v) => set({ orderBy: v.value as 'newest' | 'slowest' })}
            />
          </InlineField>
        </InlineFieldRow>
      )}

      {uses.includes('logs') && (
        <InlineFieldRow>
          <InlineField label="Severity" labelWidth={LABEL} tooltip="This level and above">
            <Select
              inputId="flowlens-severity"
              aria-label="Severity"
              width={14}
              options={[anyOption(), ...toOptions(['trace', 'debug', 'info', 'warn', 'error', 'fatal'])]}
              value={query.severity ?? ''}
              onChange={(v) => set({ severity: v.value ?? '' })}
            />
          </InlineField>
          <InlineField label="Contains" labelWidth={10}>
            <Input id="flowlens-contains" width={30} {...text('contains')} />
          </InlineField>
        </InlineFieldRow>
      )}

      {(uses.includes('traceId') || uses.includes('limit')) && (
        <InlineFieldRow>
          {uses.includes('traceId') && (
            <InlineField label="Trace ID" labelWidth={LABEL}>
              <Input id="flowlens-trace-id" width={40} placeholder="32 hex digits" {...text('traceId')} />
            </InlineField>
          )}
          {uses.includes('limit') && (
            <InlineField label="Limit" labelWidth={8}>
              <Input id="flowlens-limit" width={10} min={1} placeholder="100" {...number('limit')} />
            </InlineField>
          )}
        </InlineFieldRow>
      )}
    </>
  );
}
