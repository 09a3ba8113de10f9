// Package provision writes what a Grafana instance needs to show flowlens:
// data source and dashboard provisioning files and the dashboards
// (`flowlens grafana provision --out DIR`). Credentials are never written:
// the data sources read them from Grafana's environment
// (FLOWLENS_CLICKHOUSE_USER, FLOWLENS_CLICKHOUSE_PASSWORD), which Grafana
// expands in provisioning files.
package provision

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/flowlens/flowlens/dashboards/gen"
	"github.com/flowlens/flowlens/internal/config"
	"github.com/flowlens/flowlens/storage"
)

// Config says which data sources to provision and where things are.
type Config struct {
	// Out receives provisioning/ and dashboards/.
	Out string
	// DashboardsPath is the dashboards folder as Grafana sees it (default:
	// Out/dashboards, absolute); set it when Grafana mounts Out elsewhere.
	DashboardsPath string
	// ClickHouse is the HTTP interface, host:port or http(s)://host:port
	// (default 127.0.0.1:8123, the engine of `flowlens up`).
	ClickHouse string
	// Database holds flowlens's tables (default flowlens).
	Database string
	// AnalyzerURL and AlertsURL are the flow analyzer's and the rules
	// evaluator's APIs (defaults: those of `flowlens up`); "" leaves one out.
	AnalyzerURL, AlertsURL string
	// PrometheusURL is the Prometheus scraping the flow metrics, for the
	// dashboards without the plugin (default http://127.0.0.1:9090).
	PrometheusURL string
	// Plugin provisions the flowlens data source and its dashboards; OTel
	// Grafana's ClickHouse and Prometheus data sources and theirs.
	Plugin, OTel bool
}

// Names and UIDs of the provisioned data sources: the dashboards' data
// source variables pick them up by type.
const (
	FlowlensUID   = "flowlens"
	ClickHouseUID = "flowlens-clickhouse"
	PrometheusUID = "flowlens-prometheus"

	userEnv     = "${FLOWLENS_CLICKHOUSE_USER}"
	passwordEnv = "${FLOWLENS_CLICKHOUSE_PASSWORD}"
)

// SetDefaults fills what is not set (Plugin and OTel are the caller's).
func (c *Config) SetDefaults() {
	if c.ClickHouse == "" {
		c.ClickHouse = storage.DefaultAddr
	}
	if c.Database == "" {
		c.Database = "flowlens"
	}
	if c.PrometheusURL == "" {
		c.PrometheusURL = "http://127.0.0.1:9090"
	}
}

// Validate names the first wrong setting.
func (c *Config) Validate() error {
	if c.Out == "" {
		return config.Errorf("out", "name the folder to write into")
	}
	if !c.Plugin && !c.OTel {
		return errors.New("nothing to provision: enable the plugin set, the OTel set or both")
	}
	if _, _, _, err := clickHouseHostPort(c.ClickHouse); err != nil {
		return config.Errorf("clickhouse", "%v", err)
	}
	sc := storage.Config{Addr: c.ClickHouse, Database: c.Database}
	sc.SetDefaults()
	if err := sc.Validate(); err != nil {
		return err
	}
	for name, u := range map[string]string{"analyzer-url": c.AnalyzerURL, "alerts-url": c.AlertsURL, "prometheus-url": c.PrometheusURL} {
		if u == "" {
			continue
		}
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return config.Errorf(name, "%q: want http://host:port", u)
		}
	}
	return nil
}

// clickHouseHostPort splits the address for Grafana's ClickHouse data
// source, which takes host, port and protocol apart.
func clickHouseHostPort(addr string) (host string, port int, secure bool, err error) {
	hostport := addr
	if strings.Contains(addr, "://") {
		u, perr := url.Parse(addr)
		if perr != nil || (u.Scheme != "http" && u.Scheme != "https") {
			return "", 0, false, fmt.Errorf("%q: want host:port or http(s)://host:port (the HTTP interface)", addr)
		}
		hostport, secure = u.Host, u.Scheme == "https"
	}
	h, p, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", 0, false, fmt.Errorf("%q: want host:port or http(s)://host:port", addr)
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return "", 0, false, fmt.Errorf("%q: bad port", addr)
	}
	return h, n, secure, nil
}

// datasource is one entry of a data source provisioning file.
type datasource struct {
	Name           string            `yaml:"name"`
	Type           string            `yaml:"type"`
	UID            string            `yaml:"uid"`
	Access         string            `yaml:"access"`
	URL            string            `yaml:"url,omitempty"`
	Editable       bool              `yaml:"editable"`
	JSONData       map[string]any    `yaml:"jsonData,omitempty"`
	SecureJSONData map[string]string `yaml:"secureJsonData,omitempty"`
}

func (c Config) datasources() ([]datasource, error) {
	var out []datasource
	if c.Plugin {
		jd := map[string]any{"address": c.ClickHouse, "database": c.Database}
		if c.AnalyzerURL != "" {
			jd["analyzerUrl"] = c.AnalyzerURL
		}
		if c.AlertsURL != "" {
			jd["alertsUrl"] = c.AlertsURL
		}
		out = append(out, datasource{Name: "flowlens", Type: gen.FlowlensType, UID: FlowlensUID, Access: "proxy", Editable: true,
			JSONData: jd, SecureJSONData: map[string]string{"username": userEnv, "password": passwordEnv}})
	}
	if c.OTel {
		host, port, secure, err := clickHouseHostPort(c.ClickHouse)
		if err != nil {
			return nil, err
		}
		otel := func(table string) map[string]any {
			return map[string]any{"defaultDatabase": c.Database, "defaultTable": table, "otelEnabled": true}
		}
		out = append(out,
			datasource{Name: "flowlens ClickHouse", Type: gen.ClickHouseType, UID: ClickHouseUID, Access: "proxy", Editable: true,
				JSONData: map[string]any{"host": host, "port": port, "protocol": "http", "secure": secure, "username": userEnv,
					"defaultDatabase": c.Database, "logs": otel(storage.LogsTable), "traces": otel(storage.TracesTable)},
				SecureJSONData: map[string]string{"password": passwordEnv}},
			datasource{Name: "flowlens Prometheus", Type: gen.PrometheusType, UID: PrometheusUID, Access: "proxy", Editable: true,
				URL: c.PrometheusURL})
	}
	return out, nil
}

// Folders of the two dashboard sets (Grafana folders, from the file tree).
const (
	FolderPlugin = "flowlens"
	FolderOTel   = "flowlens (Prometheus + ClickHouse)"
)

// Write writes Out/provisioning/datasources/flowlens.yaml,
// Out/provisioning/dashboards/flowlens.yaml and the dashboards under
// Out/dashboards/<folder>/, and returns the files written.
func Write(c Config) ([]string, error) {
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	dashDir := filepath.Join(c.Out, "dashboards")
	if c.DashboardsPath == "" {
		abs, err := filepath.Abs(dashDir)
		if err != nil {
			return nil, err
		}
		c.DashboardsPath = abs
	}
	dss, err := c.datasources()
	if err != nil {
		return nil, err
	}
	var written []string
	write := func(path string, b []byte) error {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("create %s: %w", filepath.Dir(path), err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		written = append(written, path)
		return nil
	}
	yml, err := marshalYAML(map[string]any{"apiVersion": 1, "datasources": dss})
	if err != nil {
		return nil, fmt.Errorf("encode data sources: %w", err)
	}
	if err := write(filepath.Join(c.Out, "provisioning", "datasources", "flowlens.yaml"), append([]byte(header), yml...)); err != nil {
		return nil, err
	}
	provider := map[string]any{"apiVersion": 1, "providers": []map[string]any{{
		"name": "flowlens", "type": "file", "disableDeletion": false, "allowUiUpdates": true, "updateIntervalSeconds": 60,
		"options": map[string]any{"path": c.DashboardsPath, "foldersFromFilesStructure": true},
	}}}
	if yml, err = marshalYAML(provider); err != nil {
		return nil, fmt.Errorf("encode dashboard provider: %w", err)
	}
	if err := write(filepath.Join(c.Out, "provisioning", "dashboards", "flowlens.yaml"), append([]byte(header), yml...)); err != nil {
		return nil, err
	}
	ds, err := gen.Dashboards()
	if err != nil {
		return nil, err
	}
	for _, d := range ds {
		folder := FolderPlugin
		if strings.HasPrefix(d.File, "otel-") {
			if !c.OTel {
				continue
			}
			folder = FolderOTel
		} else if !c.Plugin {
			continue
		}
		b, err := gen.JSON(d.Board)
		if err != nil {
			return nil, err
		}
		if err := write(filepath.Join(dashDir, folder, d.File), b); err != nil {
			return nil, err
		}
	}
	return written, nil
}

func marshalYAML(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), enc.Close()
}

const header = "# Written by `flowlens grafana provision`. Credentials come from Grafana's environment:\n" +
	"# FLOWLENS_CLICKHOUSE_USER and FLOWLENS_CLICKHOUSE_PASSWORD (empty: ClickHouse's default user;\n" +
	"# for `flowlens up`: reader and its password in data/clickhouse/credentials.yaml).\n"
