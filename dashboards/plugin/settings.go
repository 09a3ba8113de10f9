package plugin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"

	"github.com/flowlens/flowlens/internal/config"
	"github.com/flowlens/flowlens/storage"
)

// Settings of one data source instance: jsonData, with the ClickHouse user
// and password from secureJsonData (`username`, `password`).
type Settings struct {
	// Address is the ClickHouse HTTP interface, host:port or a DSN
	// (http://host:8123, https://host:8443, clickhouse://host:9000).
	// Default: the data source's URL, else the embedded engine of `flowlens up`.
	Address string `json:"address"`
	// Database holds the flowlens tables (default flowlens).
	Database string `json:"database"`
	// AnalyzerURL is the flow analyzer's API (http://host:8428), for the live
	// breaker states; optional.
	AnalyzerURL string `json:"analyzerUrl"`
	// AlertsURL is the rules evaluator's API (http://host:9095), for
	// highlighting the edges of firing flow alerts; optional.
	AlertsURL string `json:"alertsUrl"`
	// TimeoutSeconds bounds every query and API call (default 30).
	TimeoutSeconds int `json:"timeoutSeconds"`

	Username string `json:"-"`
	Password string `json:"-"`
}

// Timeout is TimeoutSeconds as a duration.
func (s Settings) Timeout() time.Duration { return time.Duration(s.TimeoutSeconds) * time.Second }

// LoadSettings reads and checks an instance's settings; the error names
// the setting that is wrong.
func LoadSettings(in backend.DataSourceInstanceSettings) (Settings, error) {
	var s Settings
	if len(in.JSONData) > 0 && string(in.JSONData) != "null" {
		if err := json.Unmarshal(in.JSONData, &s); err != nil {
			return s, fmt.Errorf("%w: jsonData: %v", errSettings, err)
		}
	}
	s.Username = in.DecryptedSecureJSONData["username"]
	s.Password = in.DecryptedSecureJSONData["password"]
	s.Address = strings.TrimSpace(s.Address)
	if s.Address == "" {
		s.Address = strings.TrimSpace(in.URL)
	}
	if s.Address == "" {
		s.Address = storage.DefaultAddr
	}
	if s.Database == "" {
		s.Database = "flowlens"
	}
	if s.TimeoutSeconds == 0 {
		s.TimeoutSeconds = 30
	}
	if s.TimeoutSeconds < 0 || s.TimeoutSeconds > 3600 {
		return s, fmt.Errorf("%w: timeoutSeconds %d: want 1 to 3600", errSettings, s.TimeoutSeconds)
	}
	if _, err := s.storageConfig(); err != nil {
		return s, fmt.Errorf("%w: %w", errSettings, err)
	}
	for name, u := range map[string]*string{"analyzerUrl": &s.AnalyzerURL, "alertsUrl": &s.AlertsURL} {
		*u = strings.TrimRight(strings.TrimSpace(*u), "/")
		if *u == "" {
			continue
		}
		p, err := url.Parse(*u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return s, fmt.Errorf("%w: %s %q: want http://host:port", errSettings, name, *u)
		}
	}
	return s, nil
}

// storageConfig is the storage configuration of these settings, validated.
func (s Settings) storageConfig() (storage.Config, error) {
	cfg := storage.Config{Addr: s.Address, Database: s.Database, Username: s.Username, Password: s.Password}
	cfg.SetDefaults()
	cfg.DialTimeout = min(cfg.DialTimeout, s.Timeout())
	cfg.ReadTimeout = s.Timeout()
	cfg.MaxOpenConns = 4
	if err := cfg.Validate(); err != nil {
		var fe *config.FieldError
		if errors.As(err, &fe) && fe.Field == "addr" {
			fe.Field = "address" // the name in jsonData
		}
		return cfg, err
	}
	return cfg, nil
}
