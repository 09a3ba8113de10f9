package eval

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/config"
)

func TestConfigFile(t *testing.T) {
	var c Config
	if err := config.Load("testdata/evaluator.yml", &c); err != nil {
		t.Fatal(err)
	}
	if c.Interval != 30*time.Second || c.Notify.Retry.Max != 30*time.Second || len(c.Notify.Webhooks) != 1 || c.QueryTimeout != 30*time.Second {
		t.Errorf("%+v", c)
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	cases := map[string]string{
		"interval: 30s\n": "data_dir: required",
		"data_dir: x\nquery_url: prometheus:9090\n":          "query_url: must be an http(s) URL",
		"data_dir: x\nnotify:\n  webhooks: [ftp://h/x]\n":    "notify.webhooks[0]: must be an http(s) URL",
		"data_dir: x\nnotify:\n  alertmanager: [http://h]\n": "notify.alertmanager: unknown key",
		"data_dir: x\nretention: 10m\n":                      "retention: must be at least 1h",
	}
	for in, want := range cases {
		p := filepath.Join(t.TempDir(), "c.yml")
		os.WriteFile(p, []byte(in), 0o644)
		var c Config
		err := config.Load(p, &c)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", in, err, want)
		}
	}
}
