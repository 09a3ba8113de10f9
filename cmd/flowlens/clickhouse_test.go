package main

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/flowlens/flowlens/internal/embedded/chserver"
)

// syncBuffer is a bytes.Buffer a command writes while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// --data-dir names the folder of everything (the engine's is its
// clickhouse/), but a user who points it at the engine's folder itself
// means that folder: its data is served, no empty engine nested in it.
func TestEngineDirOfDataDir(t *testing.T) {
	data := t.TempDir()
	engine := filepath.Join(data, "clickhouse")
	for _, d := range []string{filepath.Join(engine, "metadata"), filepath.Join(engine, "store")} {
		os.MkdirAll(d, 0o755)
	}
	fresh := filepath.Join(t.TempDir(), "clickhouse")
	for _, tc := range []struct{ dataDir, want string }{
		{data, engine},               // the data folder
		{engine, engine},             // the engine's folder itself
		{engine + "/", engine + "/"}, // the same, as typed
		{fresh, fresh},               // named clickhouse, nothing there yet: meant as the engine's folder
		{t.TempDir(), ""},            // a new data folder: its clickhouse/
	} {
		want := tc.want
		if want == "" {
			want = filepath.Join(tc.dataDir, "clickhouse")
		}
		g := &globalFlags{DataDir: tc.dataDir}
		if got := g.engineDir(); got != want {
			t.Errorf("--data-dir %s: engine in %s, want %s", tc.dataDir, got, want)
		}
	}
}

// `flowlens clickhouse --data-dir data/clickhouse` serves the engine that is
// there, not a new empty one in data/clickhouse/clickhouse.
func TestClickHouseOnTheEngineFolder(t *testing.T) {
	served := regexp.MustCompile(`on http://(\S+) \(data in (\S+)\)`)
	// a data folder with the schema in its engine (data/clickhouse)
	data := t.TempDir()
	engine := filepath.Join(data, "clickhouse")
	p := startFlowlens(t, "clickhouse", "--data-dir", data, "--listen", "127.0.0.1:0", "--log-level", "error")
	if m := p.waitOutput(t, served); m[2] != engine {
		t.Fatalf("--data-dir %s serves %s, want %s", data, m[2], engine)
	} else if _, stderr, code := runFlowlens(t, nil, "migrate", "--clickhouse", m[1], "--data-dir", data, "--log-level", "error"); code != 0 {
		t.Fatalf("migrate: %s", stderr)
	}
	p.stop(t)

	p = startFlowlens(t, "clickhouse", "--data-dir", engine, "--listen", "127.0.0.1:0", "--log-level", "error")
	m := p.waitOutput(t, served)
	if m[2] != engine {
		t.Errorf("serves %s, want %s", m[2], engine)
	}
	if _, err := os.Stat(filepath.Join(engine, "clickhouse")); err == nil {
		t.Errorf("an engine was made in %s/clickhouse", engine)
	}
	creds, err := chserver.ReadCredentials(chserver.CredentialsPath(engine))
	if err != nil {
		t.Fatal(err)
	}
	user, password, _ := creds.Login(chserver.RoleReader)
	req, _ := http.NewRequest("GET", "http://"+m[1]+"/?query="+url.QueryEscape("EXISTS TABLE flowlens.otel_traces"), nil)
	req.SetBasicAuth(user, password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.TrimSpace(string(body)) != "1" {
		t.Errorf("the served engine has no flowlens.otel_traces: %q", body)
	}
	p.stop(t)
}
