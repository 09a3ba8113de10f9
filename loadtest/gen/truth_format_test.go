package gen

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowlens/flowlens/internal/flowmodel"
	"github.com/flowlens/flowlens/internal/golden"
)

// A truth file is written by `flowlens loadgen` and read later, by another
// process, to check what the pipeline stored. testdata/truth.json is the
// reference; sampleTruth sets every field, so a field the file loses or
// renames shows.
func sampleTruth() *Truth {
	at := time.Date(2026, 1, 1, 12, 0, 0, 500, time.UTC)
	key := EdgeKey{Client: "checkout", Server: "orders", ConnectionType: flowmodel.ConnectionMessaging, Destination: "orders"}
	return &Truth{
		Topology: "shop", Seed: 42, RunID: "000000000000002a", Start: at, End: at.Add(time.Minute),
		Requests: 100, Spans: 1200, Logs: 3600,
		SpansByService: map[string]uint64{"gateway": 100, "checkout": 1100},
		LogsByService:  map[string]uint64{"gateway": 300, "checkout": 3300},
		Edges:          []EdgeTruth{{EdgeKey: key, Requests: 95, Failed: 3, Retries: 2}},
		Queues:         []QueueTruth{{Queue: "orders", System: "kafka", Destination: "orders", Sent: 95, Dropped: 5, Received: map[string]uint64{"fulfilment": 90}}},
		Breakers:       []BreakerTransition{{Time: at.Add(time.Second), Service: "checkout", Name: "payments", From: "closed", To: "open", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", SpanID: "00f067aa0ba902b7"}},
		Faults:         []FaultTruth{{Name: "slow-db", Kind: "latency", Target: "fulfilment->orders_db", Ratio: 0.5, ErrorRate: 0.1, Add: 20 * time.Millisecond, Start: at, End: at.Add(30 * time.Second), Active: true, Affected: 17}},
		Expected:       []ExpectedEdge{{EdgeKey: key, PerRequest: 0.95}},
	}
}

func TestTruthFileGolden(t *testing.T) {
	want := sampleTruth()
	if zero := zeroFields(reflect.ValueOf(want).Elem(), "Truth"); len(zero) > 0 {
		t.Fatalf("sampleTruth leaves %v unset: set them, so the reference holds them", zero)
	}
	path := filepath.Join(t.TempDir(), "truth.json")
	if err := want.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const ref = "testdata/truth.json"
	golden.Equal(t, ref, b)
	got, err := ReadTruth(ref)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%s reads as (-want +got):\n%s", ref, diff)
	}
}

// zeroFields lists the fields of v left at their zero value, and the
// empty slices and maps, by path.
func zeroFields(v reflect.Value, path string) []string {
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			break
		}
		var out []string
		for i := 0; i < v.NumField(); i++ {
			out = append(out, zeroFields(v.Field(i), path+"."+v.Type().Field(i).Name)...)
		}
		return out
	case reflect.Slice, reflect.Map:
		if v.Len() == 0 {
			return []string{path}
		}
		if v.Kind() == reflect.Slice {
			var out []string
			for i := 0; i < v.Len(); i++ {
				out = append(out, zeroFields(v.Index(i), path+"[]")...)
			}
			return out
		}
		return nil
	}
	if v.IsZero() {
		return []string{path}
	}
	return nil
}
