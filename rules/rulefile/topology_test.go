package rulefile

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestKnownTopologyFromTheAnalyzerAPI(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/graph" || r.URL.Query().Get("from") != "now-24h0m0s" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(`{"source":"memory","nodes":[{"id":"gateway"},{"id":"checkout"},{"id":"payments"}],
			"edges":[{"client":"gateway","server":"checkout"},{"client":"checkout","server":"payments"}]}`))
	}))
	defer srv.Close()
	top, err := FetchTopology(context.Background(), srv.Client(), srv.URL, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(top.Services) != 3 || len(top.Edges) != 2 {
		t.Fatalf("%+v", top)
	}
	// checkout->gateway never happened: an unknown edge, though both services exist
	_, diags := Load("r.yml", []byte(`groups:
  - name: g
    rules:
      - errors: {name: E, edge: checkout->gateway}
      - errors: {name: F, edge: checkout->payments}
`), Options{KnownServices: top.Services, KnownEdges: top.Edges})
	if len(diags) != 1 || !strings.Contains(diags[0].Error(), "r.yml:4:") || !strings.Contains(diags[0].Msg, "unknown edge checkout->gateway") {
		t.Errorf("diags: %v", diags)
	}
}
