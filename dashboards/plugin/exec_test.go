package plugin_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/backend/grpcplugin"
	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"
	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/flowlens/flowlens/dashboards/plugin"
)

// The built executable, started as Grafana starts a backend plugin
// (go-plugin's handshake with the SDK's cookie, gRPC only, the plugin sets
// Grafana dispenses), answers a health check and a query.
func TestExecutableServesAsGrafanaStartsIt(t *testing.T) {
	s := theShop(t)
	bin := filepath.Join(t.TempDir(), "gpx_flowlens")
	build := exec.Command("go", "build", "-o", bin, "./cmd/gpx_flowlens")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the plugin executable: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig: goplugin.HandshakeConfig{ProtocolVersion: grpcplugin.ProtocolVersion,
			MagicCookieKey: grpcplugin.MagicCookieKey, MagicCookieValue: grpcplugin.MagicCookieValue},
		VersionedPlugins: map[int]goplugin.PluginSet{grpcplugin.ProtocolVersion: {
			"diagnostics": &grpcplugin.DiagnosticsGRPCPlugin{},
			"resource":    &grpcplugin.ResourceGRPCPlugin{},
			"data":        &grpcplugin.DataGRPCPlugin{},
			"stream":      &grpcplugin.StreamGRPCPlugin{},
		}},
		Cmd:              cmd,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		Logger:           hclog.New(&hclog.LoggerOptions{Name: "gpx_flowlens", Level: hclog.Warn, Output: os.Stderr}),
		StartTimeout:     time.Minute,
	})
	defer client.Kill()
	rpc, err := client.Client()
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	if v := client.NegotiatedVersion(); v != grpcplugin.ProtocolVersion {
		t.Errorf("negotiated protocol %d", v)
	}
	raw, err := rpc.Dispense("diagnostics")
	if err != nil {
		t.Fatal(err)
	}
	diag := raw.(grpcplugin.DiagnosticsClient)
	raw, err = rpc.Dispense("data")
	if err != nil {
		t.Fatal(err)
	}
	dataClient := raw.(grpcplugin.DataClient)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pc := backend.ToProto().PluginContext(s.full().pluginContext())
	health, err := diag.CheckHealth(ctx, &pluginv2.CheckHealthRequest{PluginContext: pc})
	if err != nil {
		t.Fatal(err)
	}
	if health.Status != pluginv2.CheckHealthResponse_OK || !strings.Contains(health.Message, "schema version") {
		t.Fatalf("health %v: %s", health.Status, health.Message)
	}
	q, _ := json.Marshal(plugin.Query{QueryType: plugin.QueryNodeGraph})
	resp, err := dataClient.QueryData(ctx, &pluginv2.QueryDataRequest{PluginContext: pc, Queries: []*pluginv2.DataQuery{{
		RefId: "A", QueryType: plugin.QueryNodeGraph, Json: q, MaxDataPoints: 100, IntervalMS: 60000,
		TimeRange: &pluginv2.TimeRange{FromEpochMS: s.from.UnixMilli(), ToEpochMS: s.to.UnixMilli()}}}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := backend.FromProto().QueryDataResponse(resp)
	if err != nil {
		t.Fatal(err)
	}
	a := r.Responses["A"]
	if a.Error != nil || len(a.Frames) != 2 {
		t.Fatalf("node graph through the executable: %v, %d frames", a.Error, len(a.Frames))
	}
	if got := column[int64](t, a.Frames[1], "detail__requests"); len(got) != len(truthEdges(s.res.Truth)) {
		t.Errorf("%d edges, the truth has %d", len(got), len(truthEdges(s.res.Truth)))
	}
}
