package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/flowlens/flowlens/internal/component"
	"github.com/flowlens/flowlens/internal/embedded/chdb"
	"github.com/flowlens/flowlens/internal/embedded/chserver"
	"github.com/flowlens/flowlens/internal/listener"
	"github.com/flowlens/flowlens/internal/logging"
	"github.com/flowlens/flowlens/storage"
)

// globalFlags are the flags every subcommand shares.
type globalFlags struct {
	ClickHouse string // host:port or DSN; empty: the running embedded endpoint, else the engine in-process
	Database   string
	Output     string // text or json
	LogLevel   string
	DataDir    string // the folder `flowlens up` keeps its data in
	CPUProfile string // write a Go CPU profile of the whole command here
	// API is how the CLI reaches flowlens's own APIs (the analyzer's,
	// the alerts API, /metrics) when their listeners ask for TLS or a
	// token.
	API listener.ClientConfig
}

func (g *globalFlags) register(root *cobra.Command) {
	pf := root.PersistentFlags()
	pf.StringVar(&g.ClickHouse, "clickhouse", "", "ClickHouse HTTP address or DSN (default: the embedded engine at "+storage.DefaultAddr+", or opened in-process on --data-dir when nothing listens there)")
	pf.StringVar(&g.Database, "database", "flowlens", "ClickHouse database")
	pf.StringVarP(&g.Output, "output", "o", "text", "output format: text or json")
	pf.StringVar(&g.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	pf.StringVar(&g.DataDir, "data-dir", "data", "data folder of the embedded engine and broker")
	pf.StringVar(&g.CPUProfile, "cpu-profile", "", "write a Go CPU profile (go tool pprof) of the command to this file")
	pf.StringVar(&g.API.TokenFile, "api-token-file", "", "bearer token for flowlens's APIs (--api, --url, --scrape, --analyzer) whose listener has auth")
	pf.StringVar(&g.API.CAFile, "api-ca-file", "", "CA of those APIs' TLS certificates (default: the system's)")
	pf.StringVar(&g.API.CertFile, "api-cert-file", "", "client certificate for those APIs' mutual TLS")
	pf.StringVar(&g.API.KeyFile, "api-key-file", "", "key of --api-cert-file")
}

// apiClient is the client of flowlens's own APIs: --api-* and timeout.
func (g *globalFlags) apiClient(timeout time.Duration) (*http.Client, error) {
	c, err := g.API.HTTPClient(timeout)
	if err != nil {
		return nil, fmt.Errorf("--api-*: %w", err)
	}
	return c, nil
}

// engineDir is the embedded engine's folder: <--data-dir>/clickhouse, or
// --data-dir itself when it is an engine's folder already, or is named
// clickhouse and holds none (flowlens clickhouse --data-dir data/clickhouse
// means that folder, not data/clickhouse/clickhouse).
func (g *globalFlags) engineDir() string {
	nested := filepath.Join(g.DataDir, "clickhouse")
	switch {
	case chdb.IsDataFolder(g.DataDir):
		return g.DataDir
	case chdb.IsDataFolder(nested):
		return nested
	case filepath.Base(filepath.Clean(g.DataDir)) == "clickhouse":
		if _, err := os.Stat(nested); err != nil {
			return g.DataDir
		}
	}
	return nested
}

func (g *globalFlags) logger() (*zap.Logger, error) {
	return logging.New(logging.Config{Level: g.LogLevel})
}

// openStore connects to storage for a CLI command as a user of role. With
// no --clickhouse it uses the embedded endpoint when `flowlens up` serves
// it, and otherwise opens the embedded engine in this process on
// --data-dir. Unless the address names a user (http://user:pass@host), it
// logs in with the embedded endpoint's generated credentials in
// --data-dir/clickhouse. With migrate it first applies the schema as admin.
// close releases both.
// readStore answers read from the store as a reading command opens it
// (the reader role, the schema as it is) and closes it; an answer missing
// for want of a schema says how to make one.
func readStore[T any](ctx context.Context, g *globalFlags, read func(*storage.Store) (T, error)) (T, error) {
	var zero T
	log, err := g.logger()
	if err != nil {
		return zero, err
	}
	st, closeStore, err := g.openStore(ctx, log, chserver.RoleReader, false)
	if err != nil {
		return zero, err
	}
	defer closeStore()
	v, err := read(st)
	if err != nil {
		return zero, withSchemaHint(err)
	}
	return v, nil
}

// readAndWrite answers read as readStore does and writes the answer to
// the command's output as --output asks: JSON, or text by print.
func readAndWrite[T any](cmd *cobra.Command, g *globalFlags, read func(*storage.Store) (T, error), print func(io.Writer, T)) error {
	v, err := readStore(cmd.Context(), g, read)
	if err != nil {
		return err
	}
	if g.Output == "json" {
		return writeJSON(cmd.OutOrStdout(), v)
	}
	print(cmd.OutOrStdout(), v)
	return nil
}

func (g *globalFlags) openStore(ctx context.Context, log *zap.Logger, role chserver.Role, migrate bool) (st *storage.Store, closeFn func(), err error) {
	return g.openStoreWith(ctx, log, storage.Config{Addr: g.ClickHouse, Database: g.Database}, role, migrate)
}

// openStoreWith is openStore with the rest of a storage section (cluster,
// TTLs, compression, connections, users) from cfg.
func (g *globalFlags) openStoreWith(ctx context.Context, log *zap.Logger, cfg storage.Config, role chserver.Role, migrate bool) (st *storage.Store, closeFn func(), err error) {
	var srv *chserver.Server
	if cfg.Addr == "" {
		cfg.Addr = storage.DefaultAddr
		if !listening(cfg.Addr) {
			// A CLI command's private endpoint is an implementation detail: only its problems are worth a line.
			quiet := log.WithOptions(zap.IncreaseLevel(zap.WarnLevel))
			srv, err = chserver.New(chserver.Config{HTTP: listener.Config{Listen: "127.0.0.1:0"}, DataDir: g.engineDir()}, component.Settings{Logger: quiet})
			if err != nil {
				return nil, nil, fmt.Errorf("no ClickHouse at %s and the embedded engine did not open: %w", storage.DefaultAddr, err)
			}
			if err := srv.Start(ctx); err != nil {
				_ = srv.Shutdown(context.Background())
				return nil, nil, err
			}
			cfg.Addr = srv.Addr()
		}
	}
	stopServer := func() {
		if srv != nil {
			_ = srv.Shutdown(context.Background())
		}
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		stopServer()
		return nil, nil, err
	}
	if migrate {
		if err := storage.MigrateAs(ctx, g.login(cfg, srv, chserver.RoleAdmin), log); err != nil {
			stopServer()
			return nil, nil, g.loginHint(fmt.Errorf("migrate schema: %w", err))
		}
	}
	st, err = storage.Open(ctx, g.login(cfg, srv, role), log)
	if err != nil {
		stopServer()
		return nil, nil, g.loginHint(err)
	}
	return st, func() {
		_ = st.Close()
		stopServer()
	}, nil
}

// login fills in the user of role from the embedded endpoint's
// credentials (of srv, or of the file `flowlens up` wrote), unless the
// address or the config names a user. The file's passwords only go to
// this machine: for another address, or without credentials, cfg stays as
// it is (a ClickHouse server with its own users).
func (g *globalFlags) login(cfg storage.Config, srv *chserver.Server, role chserver.Role) storage.Config {
	if cfg.Username != "" { // a config file's storage section names its user
		return cfg
	}
	if u, err := url.Parse(cfg.Addr); err == nil && strings.Contains(cfg.Addr, "://") && u.User != nil {
		return cfg
	}
	var creds chserver.Credentials
	if srv != nil {
		creds = srv.Credentials()
	} else if cfg.OnThisMachine() {
		if c, err := chserver.ReadCredentials(chserver.CredentialsPath(g.engineDir())); err == nil {
			creds = c
		}
	}
	if name, password, ok := creds.Login(role); ok {
		cfg.Username, cfg.Password = name, password
	}
	return cfg
}

// loginHint adds what to do to an authentication failure.
func (g *globalFlags) loginHint(err error) error {
	var ex *clickhouse.Exception
	if errors.As(err, &ex) && (ex.Code == 194 || ex.Code == 516) {
		return fmt.Errorf("%w\n(the embedded endpoint's users are in %s, written by `flowlens up`: use the same --data-dir, or put user:password@ in --clickhouse)",
			err, chserver.CredentialsPath(g.engineDir()))
	}
	return err
}

func listening(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
