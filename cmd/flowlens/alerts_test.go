package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/listener"
	"github.com/flowlens/flowlens/internal/listener/listenertest"
	"github.com/flowlens/flowlens/internal/porttest"
	"github.com/flowlens/flowlens/rules/alertapi"
)

// `flowlens rules eval` scrapes an analyzer's /metrics page and serves the
// alerts `flowlens alerts` lists.
func TestRulesEvalAndAlerts(t *testing.T) {
	metrics := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `# TYPE flowlens_breaker_state gauge
flowlens_breaker_state{service="checkout",target="payments",state="open",instance="a"} 1
flowlens_breaker_state{service="checkout",target="payments",state="closed",instance="a"} 0
`)
	}))
	t.Cleanup(metrics.Close) // after the evaluator scraping it stops
	dir := t.TempDir()
	rulesPath := filepath.Join(dir, "r.yml")
	os.WriteFile(rulesPath, []byte("groups:\n  - name: b\n    rules:\n      - breaker: {name: BreakerOpen, for: 1s}\n"), 0o644)
	addr := strings.TrimPrefix(startRulesEval(t, dir, rulesPath, "--scrape", metrics.URL, "--listen", "127.0.0.1:0", "--interval", "300ms"), "http://")

	list := func(output string) (string, error) {
		cmd := newAlertsCmd(&globalFlags{Output: output})
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&bytes.Buffer{})
		cmd.SetArgs([]string{"--url", addr})
		err := cmd.ExecuteContext(context.Background())
		return out.String(), err
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		out, err := list("text")
		if err == nil && strings.Contains(out, "firing") && strings.Contains(out, "BreakerOpen") && strings.Contains(out, `target="payments"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no firing alert listed: %v\n%s", err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	out, err := list("json")
	if err != nil {
		t.Fatal(err)
	}
	var data alertapi.Data
	if err := json.Unmarshal([]byte(out), &data); err != nil || len(data.Alerts) != 1 || data.Alerts[0].State != "firing" {
		t.Errorf("json: %v\n%s", err, out)
	}
}

// With no evaluator at --url, `flowlens alerts` says so and how to start one.
func TestAlertsWithoutEvaluator(t *testing.T) {
	addr := porttest.Refused(t)
	cmd := newAlertsCmd(&globalFlags{Output: "text"})
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	cmd.SetArgs([]string{"--url", addr})
	err := cmd.ExecuteContext(context.Background())
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"no alerts evaluator at http://" + addr, "flowlens up --rules", "flowlens rules eval"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "dial tcp") {
		t.Errorf("error is raw: %q", err)
	}
}

// An evaluator whose listener asks for TLS and a token is listed with
// --api-ca-file and --api-token-file, and refuses the CLI without them.
func TestAlertsOverTLSWithAToken(t *testing.T) {
	metrics := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "# TYPE flowlens_breaker_state gauge\nflowlens_breaker_state{service=\"a\",target=\"b\",state=\"closed\",instance=\"a\"} 1\n")
	}))
	t.Cleanup(metrics.Close) // after the evaluator scraping it stops
	pki := listenertest.NewPKI(t)
	token := listenertest.TokenFile(t, "s3cret")
	dir := t.TempDir()
	rulesPath, cfgPath := filepath.Join(dir, "r.yml"), filepath.Join(dir, "eval.yaml")
	os.WriteFile(rulesPath, []byte("groups:\n  - name: b\n    rules:\n      - breaker: {name: BreakerOpen, for: 1s}\n"), 0o644)
	os.WriteFile(cfgPath, []byte(fmt.Sprintf("data_dir: %s\nlisten: 127.0.0.1:0\ntls: {cert_file: %s, key_file: %s}\nauth: {token_file: %s}\n", filepath.Join(dir, "rules"),
		pki.CertFile, pki.KeyFile, token)), 0o644)
	base := startRulesEval(t, dir, rulesPath, "--config", cfgPath, "--scrape", metrics.URL)
	if !strings.HasPrefix(base, "https://") {
		t.Fatalf("alerts API at %q, want https", base)
	}
	list := func(g *globalFlags) error {
		g.Output = "text"
		cmd := newAlertsCmd(g)
		cmd.SetOut(&bytes.Buffer{})
		cmd.SetErr(&bytes.Buffer{})
		cmd.SetArgs([]string{"--url", base})
		return cmd.ExecuteContext(context.Background())
	}
	if err := list(&globalFlags{API: listener.ClientConfig{CAFile: pki.CAFile, TokenFile: token}}); err != nil {
		t.Errorf("with the CA and the token: %v", err)
	}
	if err := list(&globalFlags{API: listener.ClientConfig{CAFile: pki.CAFile}}); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("without the token: %v, want 401", err)
	}
}

// startRulesEval runs `flowlens rules eval rulesPath args...` with data
// folder dir until the test ends, and returns the base URL of its alerts
// API, from its "alerts: URL" line on stderr.
func startRulesEval(t *testing.T, dir, rulesPath string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	stderr, stderrW := io.Pipe()
	go func() {
		cmd := newRulesCmd(&globalFlags{DataDir: dir, LogLevel: "error"})
		cmd.SetArgs(append([]string{"eval", rulesPath}, args...))
		cmd.SetOut(&bytes.Buffer{})
		cmd.SetErr(stderrW)
		err := cmd.ExecuteContext(ctx)
		stderrW.Close()
		done <- err
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	var base string
	sc := bufio.NewScanner(stderr)
	for base == "" && sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "alerts: "); ok {
			base = strings.TrimSuffix(u, alertapi.Path)
		}
	}
	if base == "" {
		t.Fatal("no alerts URL on stderr") // the cleanup's wait reports why
	}
	go io.Copy(io.Discard, stderr)
	return base
}
