package chserver_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/flowlens/flowlens/internal/bytesize"
	"github.com/flowlens/flowlens/internal/component"
	"github.com/flowlens/flowlens/internal/embedded/chserver"
	"github.com/flowlens/flowlens/internal/listener"
	"github.com/flowlens/flowlens/internal/listener/listenertest"
)

// The engine supports one data folder per process, so an endpoint with
// another configuration (small limits), or one a test may bring down, runs
// in a child process: this test binary again, in its own process group.

const childEnv = "CHSERVER_TEST_CHILD_CONFIG"

// runChild serves an endpoint with the YAML config in $CHSERVER_TEST_CHILD_CONFIG
// until stdin closes.
func runChild(cfgYAML string) int {
	var cfg chserver.Config
	if err := yaml.Unmarshal([]byte(cfgYAML), &cfg); err != nil {
		fmt.Println("ERROR", err)
		return 1
	}
	srv, err := chserver.New(cfg, component.Settings{})
	if err == nil {
		err = srv.Start(context.Background())
	}
	if err != nil {
		fmt.Println("ERROR", err)
		return 1
	}
	fmt.Println("ADDR", srv.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = srv.Shutdown(context.Background())
	return 0
}

// child is an endpoint in a child process.
type child struct {
	addr  string
	creds chserver.Credentials
	cmd   *exec.Cmd
	exit  chan error
}

func startChild(t *testing.T, cfg chserver.Config) *child {
	t.Helper()
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.DataDir = filepath.Join(t.TempDir(), "clickhouse")
	y, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(y))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // SYSTEM SHUTDOWN signals its whole group
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, exit: make(chan error, 1)}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	go func() { c.exit <- cmd.Wait() }()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-c.exit:
		case <-time.After(time.Minute):
			_ = cmd.Process.Kill()
		}
	})
	if !strings.HasPrefix(line, "ADDR ") {
		t.Fatalf("child endpoint did not start: %q %v", line, err)
	}
	c.addr = strings.TrimSpace(strings.TrimPrefix(line, "ADDR "))
	if c.creds, err = chserver.ReadCredentials(chserver.CredentialsPath(cfg.DataDir)); err != nil {
		t.Fatal(err)
	}
	return c
}

// do sends sql (POST body) with URL arguments args, as the user of role.
func (c *child) do(t *testing.T, role chserver.Role, args, sql string, header http.Header, body io.Reader) (int, string, http.Header) {
	t.Helper()
	if body == nil {
		body = strings.NewReader(sql)
	}
	req, err := http.NewRequest("POST", "http://"+c.addr+"/?"+args, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	user, password, _ := c.creds.Login(role)
	req.SetBasicAuth(user, password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func (c *child) alive() bool {
	select {
	case <-c.exit:
		return false
	default:
	}
	resp, err := http.Get("http://" + c.addr + "/ping")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

// SYSTEM SHUTDOWN used to stop `flowlens up` (and, by signalling its
// process group, the shell that started it) without a flush.
func TestSystemShutdownRefused(t *testing.T) {
	c := startChild(t, chserver.Config{})
	for _, q := range []string{"SYSTEM SHUTDOWN", "SYSTEM KILL", "system /* */ shutdown"} {
		status, body, _ := c.do(t, chserver.RoleAdmin, "", q, nil, nil)
		if status == http.StatusOK {
			t.Errorf("%q: accepted: %s", q, body)
		}
	}
	if !c.alive() {
		t.Fatal("the endpoint went down")
	}
}

// Limits hold whatever the request says: body size after decompression,
// result size, memory and execution time of the role.
func TestLimitsHold(t *testing.T) {
	spool := bytesize.Size(1 << 20)
	cfg := chserver.Config{MaxBodyBytes: 4 << 20, SpoolMemoryBytes: &spool}
	cfg.Limits.Reader = chserver.Limits{MaxExecutionTime: time.Second, MaxMemoryUsage: 64 << 20, MaxResultBytes: 64 << 10}
	c := startChild(t, cfg)
	if code, body, _ := c.do(t, chserver.RoleAdmin, "", "CREATE TABLE default.t (s String) ENGINE = MergeTree ORDER BY s", nil, nil); code != 200 {
		t.Fatal(body)
	}

	// A 64 KiB gzip body that decodes to 64 MiB.
	var bomb bytes.Buffer
	zw := gzip.NewWriter(&bomb)
	line := bytes.Repeat([]byte("a"), 1023)
	line = append(line, '\n')
	for i := 0; i < 64<<10; i++ {
		_, _ = zw.Write(line)
	}
	_ = zw.Close()
	status, body, h := c.do(t, chserver.RoleWriter, "query="+url.QueryEscape("INSERT INTO default.t FORMAT LineAsString"), "",
		http.Header{"Content-Encoding": {"gzip"}}, bytes.NewReader(bomb.Bytes()))
	if status != http.StatusRequestEntityTooLarge || h.Get("X-ClickHouse-Exception-Code") != "202" {
		t.Errorf("gzip bomb of %d bytes: %d %s", bomb.Len(), status, body)
	}

	// An insert larger than the RAM spool budget goes to disk and is stored.
	big := strings.Repeat(strings.Repeat("b", 1023)+"\n", 3<<10) // 3 MiB
	if status, body, _ := c.do(t, chserver.RoleWriter, "query="+url.QueryEscape("INSERT INTO default.t FORMAT LineAsString"), "", nil, strings.NewReader(big)); status != 200 {
		t.Fatalf("3 MiB insert: %d %s", status, body)
	}
	if _, body, _ := c.do(t, chserver.RoleAdmin, "", "SELECT count() FROM default.t", nil, nil); body != "3072\n" {
		t.Errorf("rows after the insert spooled to disk: %q", body)
	}

	for _, tt := range []struct {
		args, sql, code string
	}{
		{"", "SELECT randomString(100) FROM numbers(10000)", "396"},                                                 // result size
		{"", "SELECT groupArray(randomString(1000)) FROM numbers(1000000)", "241"},                                  // memory
		{"", "SELECT count() FROM numbers(100000000000) WHERE cityHash64(number) = 0", "159"},                       // execution time
		{"max_execution_time=100", "SELECT count() FROM numbers(100000000000) WHERE cityHash64(number) = 0", "159"}, // the role's 1s
		{"", "SELECT 1 SETTINGS max_memory_usage = 1000000000", "452"},
	} {
		status, body, h := c.do(t, chserver.RoleReader, tt.args, tt.sql, nil, nil)
		if status == http.StatusOK || h.Get("X-ClickHouse-Exception-Code") != tt.code {
			t.Errorf("%s %q: %d code %s, want %s: %.300s", tt.args, tt.sql, status, h.Get("X-ClickHouse-Exception-Code"), tt.code, body)
		}
	}
	// The same result is fine for a role whose limits allow it.
	if status, body, _ := c.do(t, chserver.RoleAdmin, "", "SELECT randomString(100) FROM numbers(10000)", nil, nil); status != 200 || len(body) < 1000000 {
		t.Errorf("admin result: %d, %d bytes", status, len(body))
	}
	if !c.alive() {
		t.Fatal("the endpoint went down")
	}
}

// A client that sends its body slowly is cut off after read_timeout; the
// endpoint keeps answering others.
func TestSlowBodyCutOff(t *testing.T) {
	c := startChild(t, chserver.Config{ReadTimeout: time.Second})
	conn, err := net.Dial("tcp", c.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	user, password, _ := c.creds.Login(chserver.RoleWriter)
	fmt.Fprintf(conn, "POST /?query=SELECT+1 HTTP/1.1\r\nHost: %s\r\nAuthorization: Basic %s\r\nContent-Length: 1000\r\n\r\nSELECT", c.addr, basic(user, password))
	_ = conn.SetReadDeadline(time.Now().Add(time.Minute))
	reply, err := io.ReadAll(conn) // until the endpoint closes the connection
	if err != nil {
		t.Fatalf("the endpoint kept the connection for a minute: %v", err)
	}
	if bytes.HasPrefix(reply, []byte("HTTP/1.1 200")) {
		t.Fatalf("a truncated body was answered: %q", reply)
	}
	if !c.alive() {
		t.Fatal("the endpoint went down")
	}
}

func basic(user, password string) string {
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth(user, password)
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}

// With tls, the endpoint speaks HTTPS only: a client that trusts its CA
// runs queries as a user of the endpoint; plain HTTP gets nothing.
func TestTLS(t *testing.T) {
	pki := listenertest.NewPKI(t)
	c := startChild(t, chserver.Config{HTTP: listener.Config{TLS: pki.ServerTLS(false)}})
	client := pki.Client(listenertest.NoCert)
	user, password, _ := c.creds.Login(chserver.RoleReader)
	req, _ := http.NewRequest("POST", "https://"+c.addr+"/", strings.NewReader("SELECT 1"))
	req.SetBasicAuth(user, password)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "1" {
		t.Errorf("SELECT 1 over HTTPS: %s %q", resp.Status, body)
	}
	if code, err := listenertest.Get(nil, "http://"+c.addr+"/ping", ""); code == http.StatusOK {
		t.Errorf("plain HTTP answered: %d %v", code, err)
	}
}
