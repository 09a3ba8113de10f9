package topology

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaultShop(t *testing.T) {
	top := Default()
	if len(top.Services) < 15 {
		t.Fatalf("shop has %d nodes, want about 15", len(top.Services))
	}
	types := map[string]int{}
	for _, s := range top.Services {
		types[s.Type]++
	}
	for _, typ := range []string{TypeService, TypeDatabase, TypeExternal, TypeQueue} {
		if types[typ] == 0 {
			t.Errorf("shop has no %s", typ)
		}
	}
	if c, err := top.findCall("checkout", "payments"); err != nil || c.Breaker == nil || c.Retries == 0 {
		t.Errorf("checkout -> payments should retry behind a breaker: %+v %v", c, err)
	}
}

func TestLoadValid(t *testing.T) {
	top, err := Load("testdata/minimal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// defaults reach list elements
	api := top.Service("api")
	if got := api.Endpoints[0].Latency; got.Median != time.Millisecond {
		t.Errorf("endpoint latency default = %+v", got)
	}
	if c := api.Endpoints[0].Calls[0]; c.Count != 1 || c.Prob() != 1 {
		t.Errorf("call defaults: count %d probability %v", c.Count, c.Prob())
	}
	if db := top.Service("db"); db.Database.Name != "db" {
		t.Errorf("db.name default = %q", db.Database.Name)
	}
	if q := top.Service("jobs"); q.Queue.Destination != "jobs" || q.Queue.System != "kafka" {
		t.Errorf("queue defaults = %+v", q.Queue)
	}
}

// Every bad file in testdata/bad names the field it is wrong about; the
// expected message is the file's first line, after "# want: ".
func TestLoadInvalid(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad topologies: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			first, _, _ := strings.Cut(string(data), "\n")
			want, ok := strings.CutPrefix(first, "# want: ")
			if !ok {
				t.Fatalf("first line must be '# want: <error>'")
			}
			_, err = Load(f)
			if err == nil {
				t.Fatalf("loaded without error, want %q", want)
			}
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("error = %v\nwant it to contain %q", err, want)
			}
		})
	}
}

func TestFaults(t *testing.T) {
	top := Default()
	tests := []struct {
		name, yaml, wantErr string
	}{
		{"valid", "faults:\n- {kind: queue_drop, queue: orders, ratio: 0.3, at: 10s, for: 5s}\n- {kind: breaker_open, from: checkout, to: payments, at: 1s, for: 2s}\n- {kind: latency, from: checkout, to: payments, add: 100ms, at: 0s, for: 1s}\n- {kind: service_error, service: payments, error_rate: 0.5, at: 0s, for: 1s}\n- {kind: logs_without_trace_id, service: payments, ratio: 0.3, at: 0s, for: 1h}\n", ""},
		{"unknown queue", "faults:\n- {kind: queue_drop, queue: ordrs, ratio: 0.3, at: 1s, for: 1s}\n", `faults[0].queue: unknown queue "ordrs"`},
		{"ratio", "faults:\n- {kind: queue_drop, queue: orders, ratio: 1.5, at: 1s, for: 1s}\n", "faults[0].ratio: must be in [0,1]"},
		{"no breaker", "faults:\n- {kind: breaker_open, from: checkout, to: cart, at: 1s, for: 1s}\n", "faults[0].to: the calls checkout -> cart have no breaker"},
		{"no such call", "faults:\n- {kind: latency, from: email, to: payments, add: 1s, at: 1s, for: 1s}\n", "faults[0].to: email never calls payments"},
		{"negative at", "faults:\n- {kind: service_error, service: payments, error_rate: 1, at: -1s, for: 1s}\n", "faults[0].at: must not be negative"},
		{"zero for", "faults:\n- {kind: service_error, service: payments, error_rate: 1, at: 1s}\n", "faults[0].for: must be positive"},
		{"kind", "faults:\n- {kind: meteor, at: 1s, for: 1s}\n", `faults[0].kind: must be`},
		{"logs of a database", "faults:\n- {kind: logs_without_trace_id, service: postgres, ratio: 0.3, at: 0s, for: 1h}\n", `faults[0].service: unknown service "postgres"`},
		{"logs ratio", "faults:\n- {kind: logs_without_trace_id, service: payments, ratio: -0.1, at: 0s, for: 1h}\n", "faults[0].ratio: must be in [0,1]"},
		{"unknown key", "faults:\n- {kind: latency, delay: 1s}\n", "faults[0].delay: unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs, err := ParseFaults([]byte(tt.yaml), top)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(fs) != 5 || fs[4].Name != "logs_without_trace_id-payments" || fs[0].Name != "queue_drop-orders" || !fs[0].Active(12*time.Second) || fs[0].Active(15*time.Second) {
					t.Fatalf("faults = %+v", fs)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestLatencySigma(t *testing.T) {
	if s := (Latency{Median: time.Millisecond, P99: time.Millisecond}).Sigma(); s != 0 {
		t.Errorf("constant latency sigma = %v", s)
	}
	if s := (Latency{Median: time.Millisecond, P99: 10 * time.Millisecond}).Sigma(); s < 0.98 || s > 0.99 {
		t.Errorf("sigma(1ms, 10ms) = %v, want ln(10)/2.326 = 0.9898", s)
	}
}

func TestWorstCaseSpans(t *testing.T) {
	top := Default()
	// checkout POST /orders: server, cart (2+1 redis...), payments with retries...
	n := top.WorstCaseSpans("gateway", "POST /checkout")
	if n < 20 || n > 1000 {
		t.Fatalf("worst case of a checkout = %d spans", n)
	}
	if got := top.WorstCaseSpans("auth", "POST /verify"); got != 2 {
		t.Fatalf("auth verify: %d spans, want server + redis client", got)
	}
}
