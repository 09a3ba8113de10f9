package rulefile

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Topology is what the flow analyzer has seen: the names rules may use.
type Topology struct {
	Services []string // node ids
	Edges    []string // "client->server"
}

// FetchTopology reads the services and edges the flow analyzer saw over the
// last window from its API (GET <base>/api/v1/graph?from=now-<window>), for
// Options.KnownServices and Options.KnownEdges.
func FetchTopology(ctx context.Context, client *http.Client, base string, window time.Duration) (Topology, error) {
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	u := strings.TrimRight(base, "/") + "/api/v1/graph?from=" + url.QueryEscape("now-"+window.String())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Topology{}, fmt.Errorf("fetch flow graph: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return Topology{}, fmt.Errorf("fetch flow graph: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return Topology{}, fmt.Errorf("fetch flow graph: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return Topology{}, fmt.Errorf("fetch flow graph from %s: %s: %s", base, resp.Status, strings.TrimSpace(string(body)))
	}
	var g struct {
		Nodes []struct {
			ID string `json:"id"`
		} `json:"nodes"`
		Edges []struct {
			Client string `json:"client"`
			Server string `json:"server"`
		} `json:"edges"`
	}
	if err := json.Unmarshal(body, &g); err != nil {
		return Topology{}, fmt.Errorf("fetch flow graph from %s: decode: %w", base, err)
	}
	var t Topology
	seen := map[string]bool{}
	for _, n := range g.Nodes {
		if n.ID != "" && !seen[n.ID] {
			seen[n.ID] = true
			t.Services = append(t.Services, n.ID)
		}
	}
	seenE := map[string]bool{}
	for _, e := range g.Edges {
		for _, s := range []string{e.Client, e.Server} {
			if s != "" && !seen[s] {
				seen[s] = true
				t.Services = append(t.Services, s)
			}
		}
		k := e.Client + "->" + e.Server
		if !seenE[k] {
			seenE[k] = true
			t.Edges = append(t.Edges, k)
		}
	}
	sort.Strings(t.Services)
	sort.Strings(t.Edges)
	return t, nil
}
