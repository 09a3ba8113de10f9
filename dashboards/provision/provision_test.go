package provision_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"gopkg.in/yaml.v3"

	"github.com/flowlens/flowlens/dashboards/gen"
	"github.com/flowlens/flowlens/dashboards/plugin"
	"github.com/flowlens/flowlens/dashboards/provision"
)

type provisioned struct {
	APIVersion  int `yaml:"apiVersion"`
	Datasources []struct {
		Name           string            `yaml:"name"`
		Type           string            `yaml:"type"`
		UID            string            `yaml:"uid"`
		URL            string            `yaml:"url"`
		JSONData       map[string]any    `yaml:"jsonData"`
		SecureJSONData map[string]string `yaml:"secureJsonData"`
	} `yaml:"datasources"`
	Providers []struct {
		Type    string `yaml:"type"`
		Options struct {
			Path                      string `yaml:"path"`
			FoldersFromFilesStructure bool   `yaml:"foldersFromFilesStructure"`
		} `yaml:"options"`
	} `yaml:"providers"`
}

func readYAML(t *testing.T, path string) provisioned {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var p provisioned
	if err := yaml.Unmarshal(b, &p); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if p.APIVersion != 1 {
		t.Errorf("%s: apiVersion %d", path, p.APIVersion)
	}
	return p
}

// What is written is what Grafana reads: data sources of the types the
// dashboards' variables ask for, a file provider pointing at the
// dashboards, every generated dashboard, and no credential in any file.
func TestProvisionWritesWhatTheDashboardsNeed(t *testing.T) {
	out := t.TempDir()
	files, err := provision.Write(provision.Config{Out: out, ClickHouse: "https://ch.example:8443", AnalyzerURL: "http://flowgraph:8428",
		AlertsURL: "http://rules:9095", Plugin: true, OTel: true})
	if err != nil {
		t.Fatal(err)
	}
	ds := readYAML(t, filepath.Join(out, "provisioning", "datasources", "flowlens.yaml"))
	types := map[string]bool{}
	for _, d := range ds.Datasources {
		types[d.Type] = true
		for k, v := range d.SecureJSONData {
			if !strings.HasPrefix(v, "${FLOWLENS_CLICKHOUSE_") {
				t.Errorf("%s: secureJsonData.%s = %q is not read from the environment", d.Name, k, v)
			}
		}
	}
	if !reflect.DeepEqual(types, map[string]bool{gen.FlowlensType: true, gen.ClickHouseType: true, gen.PrometheusType: true}) {
		t.Errorf("data source types %v", types)
	}
	for _, d := range ds.Datasources {
		switch d.Type {
		case gen.FlowlensType:
			// the plugin reads the provisioned settings as they are
			jd, _ := json.Marshal(d.JSONData)
			s, err := plugin.LoadSettings(backend.DataSourceInstanceSettings{JSONData: jd,
				DecryptedSecureJSONData: map[string]string{"username": "u", "password": "p"}})
			if err != nil || s.Address != "https://ch.example:8443" || s.AnalyzerURL != "http://flowgraph:8428" ||
				s.AlertsURL != "http://rules:9095" || s.Database != "flowlens" || s.Password != "p" {
				t.Errorf("the plugin reads %+v, %v", s, err)
			}
		case gen.ClickHouseType:
			if d.JSONData["host"] != "ch.example" || d.JSONData["port"] != 8443 || d.JSONData["secure"] != true || d.JSONData["protocol"] != "http" {
				t.Errorf("ClickHouse data source %+v", d.JSONData)
			}
		}
	}
	prov := readYAML(t, filepath.Join(out, "provisioning", "dashboards", "flowlens.yaml"))
	if len(prov.Providers) != 1 || prov.Providers[0].Type != "file" || !prov.Providers[0].Options.FoldersFromFilesStructure ||
		prov.Providers[0].Options.Path != filepath.Join(out, "dashboards") {
		t.Fatalf("dashboard providers %+v", prov.Providers)
	}
	all, err := gen.Dashboards()
	if err != nil {
		t.Fatal(err)
	}
	var got, want []string
	for _, f := range files {
		if strings.HasSuffix(f, ".json") {
			got = append(got, filepath.Base(f))
			b, _ := os.ReadFile(f)
			var d struct {
				Templating struct {
					List []struct {
						Type  string `json:"type"`
						Query any    `json:"query"`
					} `json:"list"`
				} `json:"templating"`
			}
			if err := json.Unmarshal(b, &d); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			for _, v := range d.Templating.List {
				if typ, _ := v.Query.(string); v.Type == "datasource" && !types[typ] {
					t.Errorf("%s asks for a %s data source that is not provisioned", f, typ)
				}
			}
		}
	}
	for _, d := range all {
		want = append(want, d.File)
	}
	sort.Strings(got)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("dashboards written %v, generated %v", got, want)
	}
}

func TestProvisionOneSet(t *testing.T) {
	out := t.TempDir()
	files, err := provision.Write(provision.Config{Out: out, Plugin: true, DashboardsPath: "/var/lib/grafana/dashboards"})
	if err != nil {
		t.Fatal(err)
	}
	ds := readYAML(t, filepath.Join(out, "provisioning", "datasources", "flowlens.yaml"))
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != gen.FlowlensType {
		t.Errorf("data sources %+v", ds.Datasources)
	}
	if p := readYAML(t, filepath.Join(out, "provisioning", "dashboards", "flowlens.yaml")); p.Providers[0].Options.Path != "/var/lib/grafana/dashboards" {
		t.Errorf("provider path %s", p.Providers[0].Options.Path)
	}
	for _, f := range files {
		if strings.Contains(f, "otel-") {
			t.Errorf("wrote %s without the OTel set", f)
		}
	}
}

func TestProvisionRefusesBadSettings(t *testing.T) {
	for _, tc := range []struct {
		cfg  provision.Config
		want string
	}{
		{provision.Config{Plugin: true}, "out"},
		{provision.Config{Out: t.TempDir()}, "nothing to provision"},
		{provision.Config{Out: t.TempDir(), OTel: true, ClickHouse: "clickhouse://ch:9000"}, "clickhouse"},
		{provision.Config{Out: t.TempDir(), Plugin: true, AlertsURL: "rules:9095"}, "alerts-url"},
	} {
		if _, err := provision.Write(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error naming %s", tc.cfg, err, tc.want)
		}
	}
}
