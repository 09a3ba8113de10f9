package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGrafanaProvisionCommand(t *testing.T) {
	dir := t.TempDir()
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"grafana", "provision", "--out", dir, "--no-otel", "--alerts-url", ""})
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	ds, err := os.ReadFile(filepath.Join(dir, "provisioning", "datasources", "flowlens.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ds), "type: flowlens-flowlens-datasource") || strings.Contains(string(ds), "alertsUrl") ||
		strings.Contains(string(ds), "grafana-clickhouse-datasource") {
		t.Errorf("data sources:\n%s", ds)
	}
	if _, err := os.Stat(filepath.Join(dir, "dashboards", "flowlens", "flowlens-overview.json")); err != nil {
		t.Error(err)
	}
	if lines := strings.Count(out.String(), "\n"); lines != 6 { // 2 provisioning files, 4 dashboards
		t.Errorf("listed %d files:\n%s", lines, out.String())
	}
	cmd = newRootCmd()
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs([]string{"grafana", "provision"})
	if err := cmd.ExecuteContext(context.Background()); err == nil || !strings.Contains(err.Error(), `"out" not set`) {
		t.Errorf("without --out: %v", err)
	}
}
