import { DataSourcePlugin } from '@grafana/data';

import { ConfigEditor } from './components/ConfigEditor';
import { QueryEditor } from './components/QueryEditor';
import { DataSource } from './datasource';
import type { FlowlensOptions, FlowlensQuery, FlowlensSecureOptions } from './types';

export const plugin = new DataSourcePlugin<DataSource, FlowlensQuery, FlowlensOptions, FlowlensSecureOptions>(DataSource)
  .setConfigEditor(ConfigEditor)
  .setQueryEditor(QueryEditor);
