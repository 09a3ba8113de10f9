import React from 'react';
import { fireEvent, render, screen } from '@testing-library/react';
import type { DataSourceSettings } from '@grafana/data';
import { describe, expect, it, vi } from 'vitest';

import type { FlowlensOptions } from '../types';
import { ConfigEditor } from './ConfigEditor';

function options(over: Partial<DataSourceSettings<FlowlensOptions>> = {}): DataSourceSettings<FlowlensOptions> {
  return {
    id: 1,
    uid: 'flowlens',
    orgId: 1,
    name: 'flowlens',
    type: 'flowlens-flowlens-datasource',
    typeName: 'flowlens',
    typeLogoUrl: '',
    access: 'proxy',
    url: '',
    user: '',
    database: '',
    basicAuth: false,
    basicAuthUser: '',
    isDefault: false,
    withCredentials: false,
    readOnly: false,
    jsonData: { database: 'flowlens' },
    secureJsonFields: {},
    ...over,
  } as DataSourceSettings<FlowlensOptions>;
}

describe('ConfigEditor', () => {
  it('keeps the address and APIs in jsonData', () => {
    const onChange = vi.fn();
    render(<ConfigEditor options={options()} onOptionsChange={onChange} />);
    fireEvent.change(document.getElementById('flowlens-address')!, { target: { value: 'https://ch:8443' } });
    expect(onChange).toHaveBeenLastCalledWith(
      expect.objectContaining({ jsonData: { database: 'flowlens', address: 'https://ch:8443' } })
    );
    fireEvent.change(document.getElementById('flowlens-alerts-url')!, { target: { value: 'http://rules:9095' } });
    expect(onChange.mock.lastCall![0].jsonData.alertsUrl).toBe('http://rules:9095');
    fireEvent.change(document.getElementById('flowlens-timeout')!, { target: { value: '45' } });
    expect(onChange.mock.lastCall![0].jsonData.timeoutSeconds).toBe(45);
  });

  it('keeps the user and password in secureJsonData, never in jsonData', () => {
    const onChange = vi.fn();
    render(<ConfigEditor options={options()} onOptionsChange={onChange} />);
    fireEvent.change(document.getElementById('flowlens-password')!, { target: { value: 's3cret' } });
    const saved = onChange.mock.lastCall![0];
    expect(saved.secureJsonData).toEqual({ password: 's3cret' });
    expect(JSON.stringify(saved.jsonData)).not.toContain('s3cret');
    fireEvent.change(document.getElementById('flowlens-username')!, { target: { value: 'reader' } });
    expect(onChange.mock.lastCall![0].secureJsonData).toEqual({ username: 'reader' });
  });

  it('shows a stored password as configured and resets it', () => {
    const onChange = vi.fn();
    render(<ConfigEditor options={options({ secureJsonFields: { password: true } })} onOptionsChange={onChange} />);
    expect((document.getElementById('flowlens-password') as HTMLInputElement).value).toBe('configured');
    fireEvent.click(screen.getAllByRole('button', { name: /reset/i })[0]);
    const saved = onChange.mock.lastCall![0];
    expect(saved.secureJsonFields.password).toBe(false);
    expect(saved.secureJsonData.password).toBe('');
  });
});
