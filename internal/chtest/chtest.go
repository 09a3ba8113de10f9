// Package chtest gives tests the real embedded ClickHouse engine behind its
// HTTP endpoint, with its access control: every connection logs in as one
// of the endpoint's users (Login). The engine supports one data folder per
// process, so every test in a package shares one server; each test gets its
// own database.
//
// A package that uses it should clean up in TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(chtest.Main(m)) }
//
// There is no skipping: a test that cannot start the engine fails.
package chtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/flowlens/flowlens/internal/component"
	"github.com/flowlens/flowlens/internal/embedded/chserver"
	"github.com/flowlens/flowlens/internal/listener"
)

// shared is the one server of this test process (see the package comment).
var shared struct {
	once sync.Once
	srv  *chserver.Server
	dir  string // a flowlens data folder: the engine is in dir/clickhouse
	err  error
}

func start() {
	shared.once.Do(func() {
		dir, err := os.MkdirTemp("", "flowlens-chtest-")
		if err != nil {
			shared.err = err
			return
		}
		shared.dir = dir
		srv, err := chserver.New(chserver.Config{HTTP: listener.Config{Listen: "127.0.0.1:0"}, DataDir: filepath.Join(dir, "clickhouse")}, component.Settings{})
		if err != nil {
			shared.err = err
			return
		}
		if err := srv.Start(context.Background()); err != nil {
			shared.err = err
			return
		}
		shared.srv = srv
	})
}

// Addr returns host:port of the shared endpoint, starting it on first use.
func Addr(t testing.TB) string {
	t.Helper()
	start()
	if shared.err != nil {
		t.Fatalf("start embedded ClickHouse (run `make setup` to fetch the engine): %v", shared.err)
	}
	return shared.srv.Addr()
}

// Server returns the shared server, starting it on first use.
func Server(t testing.TB) *chserver.Server {
	Addr(t)
	return shared.srv
}

// DataDir is the flowlens data folder of the shared server (what
// --data-dir names): the engine and its credentials are in DataDir/clickhouse.
func DataDir(t testing.TB) string {
	Addr(t)
	return shared.dir
}

// Login returns the user name and password of role on the shared server.
func Login(t testing.TB, role chserver.Role) (user, password string) {
	t.Helper()
	user, password, ok := Server(t).Credentials().Login(role)
	if !ok {
		t.Fatalf("the embedded endpoint has no %s user", role)
	}
	return user, password
}

// Admin is Login(t, chserver.RoleAdmin): tests that create their schema
// connect as admin.
func Admin(t testing.TB) (user, password string) { return Login(t, chserver.RoleAdmin) }

var unsafeChars = regexp.MustCompile(`[^a-z0-9_]+`)

// Database creates a fresh database for this test and returns its name.
func Database(t testing.TB) string {
	t.Helper()
	addr := Addr(t)
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	name := strings.ToLower(t.Name())
	name = unsafeChars.ReplaceAllString(name, "_")
	if len(name) > 40 {
		name = name[:40]
	}
	name = fmt.Sprintf("t_%s_%s", name, hex.EncodeToString(suffix[:]))
	conn := open(t, addr, "default")
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	return name
}

// Open returns a clickhouse-go connection (HTTP protocol) to database db,
// as admin.
func Open(t testing.TB, db string) driver.Conn {
	t.Helper()
	conn := open(t, Addr(t), db)
	t.Cleanup(func() { conn.Close() })
	return conn
}

// OpenAs is Open as the user of role.
func OpenAs(t testing.TB, role chserver.Role, db string) driver.Conn {
	t.Helper()
	user, password := Login(t, role)
	conn, err := clickhouse.Open(&clickhouse.Options{
		Protocol: clickhouse.HTTP,
		Addr:     []string{Addr(t)},
		Auth:     clickhouse.Auth{Database: db, Username: user, Password: password},
	})
	if err != nil {
		t.Fatalf("open clickhouse-go: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func open(t testing.TB, addr, db string) driver.Conn {
	user, password := Admin(t)
	conn, err := clickhouse.Open(&clickhouse.Options{
		Protocol: clickhouse.HTTP,
		Addr:     []string{addr},
		Auth:     clickhouse.Auth{Database: db, Username: user, Password: password},
	})
	if err != nil {
		t.Fatalf("open clickhouse-go: %v", err)
	}
	return conn
}

// Main runs the tests and then stops the shared server and removes its data.
func Main(m *testing.M) int {
	code := m.Run()
	if shared.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_ = shared.srv.Shutdown(ctx)
		cancel()
	}
	if shared.dir != "" {
		_ = os.RemoveAll(shared.dir)
	}
	return code
}

// MainWithEngineDir is Main for packages whose tests start the engine
// themselves, in a pipeline as flowlens up does, rather than share the
// endpoint: the engine supports one data folder per process, so every test
// uses *dir, a folder made before the tests and removed after.
func MainWithEngineDir(m *testing.M, dir *string) int {
	d, err := os.MkdirTemp("", "flowlens-engine-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	*dir = d
	defer os.RemoveAll(d)
	return Main(m)
}
