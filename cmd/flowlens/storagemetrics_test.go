package main

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/chtest"
	"github.com/flowlens/flowlens/internal/embedded/kafkabroker"
	"github.com/flowlens/flowlens/internal/kafkatest"
	"github.com/flowlens/flowlens/internal/kafkawire"
	"github.com/flowlens/flowlens/internal/kafkawire/wiretest"
	"github.com/flowlens/flowlens/internal/polltest"
)

// `flowlens flowgraph` and `flowlens collector` serve their storage
// client's metrics (flowlens_storage_*) beside their own: no command
// registered them once (issue 16).
func TestCommandsServeTheirStorageMetrics(t *testing.T) {
	brokers := kafkatest.Start(t, kafkabroker.Config{}).Addrs()
	global := []string{"--clickhouse", chtest.Addr(t), "--data-dir", chtest.DataDir(t), "--database", chtest.Database(t), "--log-level", "warn"}
	metricsAt := regexp.MustCompile(`metrics on (?:http://)?(\S+)/metrics`)

	t.Run("flowgraph", func(t *testing.T) {
		p := startFlowlens(t, append(global, "flowgraph", "--brokers", strings.Join(brokers, ","), "--listen", "127.0.0.1:0")...)
		base := "http://" + p.waitOutput(t, metricsAt)[1]
		if body, code := httpGet(t, base+"/api/v1/graph?since=1h"); code != http.StatusOK {
			t.Fatalf("graph: %d %s", code, body)
		}
		if body, _ := httpGet(t, base+"/metrics"); !strings.Contains(body, `flowlens_storage_query_duration_seconds_count{kind="edges"`) {
			t.Errorf("/metrics lacks the storage client's edge queries:\n%s", body)
		}
		p.stop(t)
	})

	t.Run("collector", func(t *testing.T) {
		p := startFlowlens(t, append(global, "collector", "--brokers", strings.Join(brokers, ","), "--listen", "127.0.0.1:0")...)
		base := "http://" + p.waitOutput(t, metricsAt)[1]
		msgs, err := (&kafkawire.Encoder{PartitionByTraceID: true}).AppendTraceMessages(nil, wiretest.Traces(1, 5, 5))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := kafkatest.Writer(t, brokers, kafkawire.DefaultSpansTopic).WriteMessages(ctx, msgs...); err != nil {
			t.Fatalf("produce spans: %v", err)
		}
		want := `flowlens_storage_insert_rows_total{table="otel_traces"} 5`
		polltest.Until(t, "the collector's /metrics to count the stored spans ("+want+")", time.Minute, func() bool {
			body, _ := httpGet(t, base+"/metrics")
			return strings.Contains(body, want)
		})
		p.stop(t)
	})
}

func httpGet(t *testing.T, url string) (string, int) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return string(b), resp.StatusCode
}
