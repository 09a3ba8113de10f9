import { dateTime, type DataSourceInstanceSettings } from '@grafana/data';
import { beforeEach, describe, expect, it, vi } from 'vitest';

import { DataSource } from './datasource';
import type { FlowlensOptions, FlowlensQuery } from './types';

const getResource = vi.fn();

// The runtime's base class talks to Grafana's backend server: stand in for
// the two things this data source uses, getResource and the template service.
vi.mock('@grafana/runtime', () => ({
  DataSourceWithBackend: class {
    instanceSettings: unknown;
    constructor(s: unknown) {
      this.instanceSettings = s;
    }
    getResource(path: string, params?: Record<string, string>) {
      return getResource(path, params);
    }
  },
  getTemplateSrv: () => ({
    replace: (s: string) => s.replace(/\$service/g, 'checkout').replace(/\$trace/g, 'abc'),
  }),
}));

const settings = { uid: 'flowlens', jsonData: {} } as DataSourceInstanceSettings<FlowlensOptions>;
const range = { from: dateTime(1000), to: dateTime(61000), raw: { from: 'now-1m', to: 'now' } };

describe('DataSource', () => {
  beforeEach(() => getResource.mockReset());

  it('replaces template variables in every text field and in attributes', () => {
    const ds = new DataSource(settings);
    const q: FlowlensQuery = {
      refId: 'A',
      queryType: 'traces',
      service: '$service',
      traceId: '$trace',
      attributes: { 'peer.service': '$service' },
      depth: 2,
    };
    expect(ds.applyTemplateVariables(q, {})).toEqual({
      refId: 'A',
      queryType: 'traces',
      service: 'checkout',
      traceId: 'abc',
      attributes: { 'peer.service': 'checkout' },
      depth: 2,
    });
  });

  it('does not send a trace query without a trace ID', () => {
    const ds = new DataSource(settings);
    expect(ds.filterQuery({ refId: 'A', queryType: 'trace' })).toBe(false);
    expect(ds.filterQuery({ refId: 'A', queryType: 'trace', traceId: 'x' })).toBe(true);
    expect(ds.filterQuery({ refId: 'A', queryType: 'nodegraph', hide: true })).toBe(false);
  });

  it('lists services and operations for template variables through the resources', async () => {
    const ds = new DataSource(settings);
    getResource.mockResolvedValueOnce(['checkout', 'gateway']);
    await expect(ds.metricFindQuery({ refId: 'v', queryType: 'services' }, { range })).resolves.toEqual([
      { text: 'checkout', value: 'checkout' },
      { text: 'gateway', value: 'gateway' },
    ]);
    expect(getResource).toHaveBeenLastCalledWith('services', { from: '1000', to: '61000' });
    getResource.mockResolvedValueOnce(['GET /cart']);
    await ds.metricFindQuery({ refId: 'v', queryType: 'operations', service: '$service' }, { range });
    expect(getResource).toHaveBeenLastCalledWith('operations', { from: '1000', to: '61000', service: 'checkout' });
  });
});
