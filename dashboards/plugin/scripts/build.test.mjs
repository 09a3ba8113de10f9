// @vitest-environment node
import { describe, expect, it } from 'vitest';

import { bundle, EXTERNALS } from './build.mjs';

// Runs module.js the way SystemJS's AMD support does: define(deps, factory)
// with the modules Grafana provides, some as namespaces marked __useDefault.
function load(code, modules) {
  let exported;
  const define = (deps, factory) => {
    exported = factory(...deps.map((d) => modules[d]));
  };
  new Function('define', code)(define);
  return exported;
}

class FakePlugin {
  constructor(ds) {
    this.DataSourceClass = ds;
  }
  setConfigEditor(c) {
    this.components = { ...this.components, ConfigEditor: c };
    return this;
  }
  setQueryEditor(q) {
    this.components = { ...this.components, QueryEditor: q };
    return this;
  }
}

describe('module.js', () => {
  it('is one AMD module that names only what Grafana provides', async () => {
    const { code, deps } = await bundle();
    expect(code.startsWith('define([')).toBe(true);
    expect(deps).toEqual(expect.arrayContaining(['react', '@grafana/data', '@grafana/runtime', '@grafana/ui']));
    for (const d of deps) {
      expect(EXTERNALS).toContain(d);
    }
    // nothing of React or Grafana is bundled
    expect(code).not.toMatch(/react\.production|__SECRET_INTERNALS|scheduler/);
  });

  it('exports the plugin with its data source and editors', async () => {
    const { code } = await bundle({ minify: false });
    class DataSourceWithBackend {
      constructor(settings) {
        this.settings = settings;
      }
    }
    const mod = load(code, {
      '@grafana/data': { DataSourcePlugin: FakePlugin },
      '@grafana/runtime': { DataSourceWithBackend, getTemplateSrv: () => ({ replace: (s) => s }) },
      '@grafana/ui': {},
      react: { __useDefault: true, default: { createElement: () => null } },
    });
    expect(mod.plugin).toBeInstanceOf(FakePlugin);
    const ds = new mod.plugin.DataSourceClass({ uid: 'x' });
    expect(ds).toBeInstanceOf(DataSourceWithBackend);
    expect(ds.getDefaultQuery()).toEqual({ queryType: 'nodegraph' });
    expect(typeof mod.plugin.components.ConfigEditor).toBe('function');
    expect(typeof mod.plugin.components.QueryEditor).toBe('function');
  });
});
