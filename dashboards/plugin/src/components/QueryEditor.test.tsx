import React from 'react';
import { act, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { dateTime } from '@grafana/data';
import { describe, expect, it, vi } from 'vitest';

import type { DataSource } from '../datasource';
import type { FlowlensQuery } from '../types';
import { QueryEditor } from './QueryEditor';

const range = { from: dateTime(1000), to: dateTime(61000), raw: { from: 'now-1m', to: 'now' } };

function fakeDataSource() {
  return {
    services: vi.fn().mockResolvedValue(['checkout', 'gateway', 'payments']),
    operations: vi.fn().mockResolvedValue(['POST /checkout', 'GET /cart']),
    edges: vi.fn().mockResolvedValue([
      { client: 'gateway', server: 'checkout', connectionType: '' },
      { client: 'checkout', server: 'fulfilment', connectionType: 'messaging_system' },
    ]),
  };
}

function setup(query: FlowlensQuery) {
  const ds = fakeDataSource();
  const onChange = vi.fn();
  const onRunQuery = vi.fn();
  const utils = render(
    <QueryEditor
      query={query}
      onChange={onChange}
      onRunQuery={onRunQuery}
      datasource={ds as unknown as DataSource}
      range={range}
    />
  );
  return { ds, onChange, onRunQuery, ...utils };
}

// Opens a @grafana/ui Select and picks the option with this text.
async function pick(inputId: string, option: string | RegExp) {
  const input = document.getElementById(inputId)!;
  await act(async () => {
    fireEvent.focus(input);
    fireEvent.keyDown(input, { key: 'ArrowDown', keyCode: 40 });
  });
  const item = await screen.findByText(option);
  await act(async () => {
    fireEvent.click(item);
  });
}

describe('QueryEditor', () => {
  it('switches the query type and runs the query', async () => {
    const { onChange, onRunQuery } = setup({ refId: 'A', queryType: 'nodegraph' });
    await pick('flowlens-query-type', 'Trace');
    expect(onChange).toHaveBeenLastCalledWith({ refId: 'A', queryType: 'trace' });
    expect(onRunQuery).toHaveBeenCalled();
  });

  it('picks the service from the services resource over the panel range', async () => {
    const { ds, onChange } = setup({ refId: 'A', queryType: 'nodegraph' });
    await waitFor(() => expect(ds.services).toHaveBeenCalledWith(range));
    await pick('flowlens-service', 'payments');
    expect(onChange).toHaveBeenLastCalledWith({ refId: 'A', queryType: 'nodegraph', service: 'payments' });
  });

  it('takes a trace ID and runs the query when the field is left', () => {
    const { onChange, onRunQuery } = setup({ refId: 'A', queryType: 'trace' });
    const input = document.getElementById('flowlens-trace-id')!;
    fireEvent.change(input, { target: { value: '4bf92f3577b34da6a3ce929d0e0e4736' } });
    expect(onChange).toHaveBeenLastCalledWith({ refId: 'A', queryType: 'trace', traceId: '4bf92f3577b34da6a3ce929d0e0e4736' });
    expect(onRunQuery).not.toHaveBeenCalled();
    fireEvent.blur(input);
    expect(onRunQuery).toHaveBeenCalledTimes(1);
    expect(document.getElementById('flowlens-service')).toBeNull(); // a trace needs no service
  });

  it('reads trace search attributes as key=value pairs and offers the service operations', async () => {
    const { ds, onChange } = setup({ refId: 'A', queryType: 'traces', service: 'checkout' });
    await waitFor(() => expect(ds.operations).toHaveBeenCalledWith('checkout', range));
    const attrs = document.getElementById('flowlens-attributes')!;
    fireEvent.change(attrs, { target: { value: 'http.route=/cart region="eu west"' } });
    fireEvent.blur(attrs);
    expect(onChange).toHaveBeenLastCalledWith({
      refId: 'A',
      queryType: 'traces',
      service: 'checkout',
      attributes: { 'http.route': '/cart', region: 'eu west' },
    });
    await pick('flowlens-operation', 'GET /cart');
    expect(onChange.mock.lastCall![0].operation).toBe('GET /cart');
  });

  it('picks an edge for the series from the edges resource', async () => {
    const { ds, onChange } = setup({ refId: 'A', queryType: 'edges' });
    await waitFor(() => expect(ds.edges).toHaveBeenCalled());
    await pick('flowlens-edge', /checkout → fulfilment/);
    expect(onChange).toHaveBeenLastCalledWith({ refId: 'A', queryType: 'edges', client: 'checkout', server: 'fulfilment' });
    await pick('flowlens-metric', 'delivery_ratio');
    expect(onChange.mock.lastCall![0].metric).toBe('delivery_ratio');
  });
});
