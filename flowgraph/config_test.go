package flowgraph

import (
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/config"
)

func TestConfigFiles(t *testing.T) {
	for _, tc := range []struct {
		file, wantErr string
	}{
		{"testdata/flowgraph.yaml", ""},
		{"testdata/bad-bucket.yaml", "rollup.bucket"},
		{"testdata/bad-bucket-seconds.yaml", "rollup.bucket: 10s"},
		{"testdata/bad-store.yaml", "store.max_items"},
		{"testdata/unknown-key.yaml", "wiat"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			var c Config
			err := config.Load(tc.file, &c)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if c.Store.Wait != 15*time.Second || c.Attributes.BreakerEvent != "cb.transition" || c.Rollup.Bucket != 5*time.Minute ||
					c.SpansTopic != "otlp_spans" || c.MaxEdges != 10000 {
					t.Fatalf("loaded %+v", c)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one naming %q", err, tc.wantErr)
			}
		})
	}
}

func TestDefaultsAreValid(t *testing.T) {
	var c Config
	if err := config.Load("", &c); err != nil {
		t.Fatal(err)
	}
	if c.Attributes.BreakerState != "breaker.state" || c.HTTP.Listen == "" || c.Instance == "" {
		t.Fatalf("defaults %+v", c)
	}
}
