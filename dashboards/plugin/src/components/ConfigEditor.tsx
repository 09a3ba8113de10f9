import React, { type ChangeEvent } from 'react';
import type { DataSourcePluginOptionsEditorProps } from '@grafana/data';
import { InlineField, Input, SecretInput } from '@grafana/ui';

import type { FlowlensOptions, FlowlensSecureOptions } from '../types';

type Props = DataSourcePluginOptionsEditorProps<FlowlensOptions, FlowlensSecureOptions>;

const LABEL_WIDTH = 22;
const INPUT_WIDTH = 50;

/**
 * Where flowlens's ClickHouse is, with the user and password kept in
 * secureJsonData, and the optional flow analyzer and alerts APIs.
 */
export function ConfigEditor({ options, onOptionsChange }: Props) {
  const jsonData = options.jsonData;
  const secure = options.secureJsonFields ?? {};
  const secureData = (options.secureJsonData ?? {}) as FlowlensSecureOptions;

  const setJSON =
    (key: keyof FlowlensOptions, numeric = false) =>
    (e: ChangeEvent<HTMLInputElement>) => {
      const raw = e.currentTarget.value;
      const value = numeric ? (raw === '' ? undefined : Number(raw)) : raw;
      onOptionsChange({ ...options, jsonData: { ...jsonData, [key]: value } });
    };
  const setSecure = (key: keyof FlowlensSecureOptions) => (e: ChangeEvent<HTMLInputElement>) =>
    onOptionsChange({ ...options, secureJsonData: { ...secureData, [key]: e.currentTarget.value } });
  const resetSecure = (key: keyof FlowlensSecureOptions) => () =>
    onOptionsChange({
      ...options,
      secureJsonFields: { ...secure, [key]: false },
      secureJsonData: { ...secureData, [key]: '' },
    });

  return (
    <>
      <InlineField
        label="ClickHouse address"
        labelWidth={LABEL_WIDTH}
        tooltip="HTTP interface as host:port or a DSN (http://host:8123, https://host:8443). Default 127.0.0.1:8123, the engine of flowlens up."
      >
        <Input
          id="flowlens-address"
          width={INPUT_WIDTH}
          value={jsonData.address ?? ''}
          placeholder="127.0.0.1:8123"
          onChange={setJSON('address')}
        />
      </InlineField>
      <InlineField label="Database" labelWidth={LABEL_WIDTH} tooltip="The database flowlens migrate created (default flowlens).">
        <Input
          id="flowlens-database"
          width={INPUT_WIDTH}
          value={jsonData.database ?? ''}
          placeholder="flowlens"
          onChange={setJSON('database')}
        />
      </InlineField>
      <InlineField label="User" labelWidth={LABEL_WIDTH} tooltip="ClickHouse user, kept encrypted by Grafana.">
        <SecretInput
          id="flowlens-username"
          width={INPUT_WIDTH}
          isConfigured={!!secure.username}
          value={secureData.username ?? ''}
          placeholder="default"
          onChange={setSecure('username')}
          onReset={resetSecure('username')}
        />
      </InlineField>
      <InlineField label="Password" labelWidth={LABEL_WIDTH} tooltip="ClickHouse password, kept encrypted by Grafana.">
        <SecretInput
          id="flowlens-password"
          width={INPUT_WIDTH}
          isConfigured={!!secure.password}
          value={secureData.password ?? ''}
          onChange={setSecure('password')}
          onReset={resetSecure('password')}
        />
      </InlineField>
      <InlineField
        label="Flow analyzer API"
        labelWidth={LABEL_WIDTH}
        tooltip="Optional: live circuit-breaker states on the flow graph (http://host:8428)."
      >
        <Input
          id="flowlens-analyzer-url"
          width={INPUT_WIDTH}
          value={jsonData.analyzerUrl ?? ''}
          placeholder="http://127.0.0.1:8428"
          onChange={setJSON('analyzerUrl')}
        />
      </InlineField>
      <InlineField
        label="Alerts API"
        labelWidth={LABEL_WIDTH}
        tooltip="Optional: the rules evaluator (http://host:9095); edges of firing flow alerts are highlighted."
      >
        <Input
          id="flowlens-alerts-url"
          width={INPUT_WIDTH}
          value={jsonData.alertsUrl ?? ''}
          placeholder="http://127.0.0.1:9095"
          onChange={setJSON('alertsUrl')}
        />
      </InlineField>
      <InlineField label="Timeout (seconds)" labelWidth={LABEL_WIDTH} tooltip="Bounds every query (default 30).">
        <Input
          id="flowlens-timeout"
          type="number"
          width={12}
          value={jsonData.timeoutSeconds ?? ''}
          placeholder="30"
          onChange={setJSON('timeoutSeconds', true)}
        />
      </InlineField>
    </>
  );
}
