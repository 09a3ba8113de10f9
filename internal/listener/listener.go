// Package listener is how every flowlens listener is configured and
// opened, the same way in every component (as the OpenTelemetry
// Collector's confighttp, configtls and configauth): its address, or off;
// optional TLS, mutual with a client CA; optional bearer tokens.
//
//	listen: 127.0.0.1:9465            # host:port (port 0 picks one), or off
//	tls:                              # optional: HTTPS / gRPC over TLS
//	  cert_file: /etc/flowlens/server.pem
//	  key_file: /etc/flowlens/server-key.pem
//	  client_ca_file: /etc/flowlens/clients-ca.pem   # optional: clients need a certificate it signed
//	  min_version: "1.3"              # "1.2" (default) or "1.3"
//	auth:                             # optional: Authorization: Bearer <token>
//	  token_file: /etc/flowlens/token # one token per line (several: rotation); or token: ...
//
// A component's config holds one Config per listener, inline where the
// component has one listener (collector, flow analyzer, rules evaluator,
// console, ClickHouse endpoint), under a key where it has several (the
// agent's metrics, otlp.grpc and otlp.http). Certificates and tokens are
// read by Load, in the component's New, so a missing file stops the start.
package listener

import (
	"bufio"
	"bytes"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/flowlens/flowlens/internal/config"
)

// Off is the address that turns a listener off: the one spelling of "off"
// in every flowlens config.
const Off = "off"

// Config of one listener.
type Config struct {
	// Listen is host:port, or off. Each component sets its default.
	Listen string     `yaml:"listen"`
	TLS    TLSConfig  `yaml:"tls"`
	Auth   AuthConfig `yaml:"auth"`
}

// TLSConfig turns TLS on when CertFile is set.
type TLSConfig struct {
	// CertFile and KeyFile are the server's certificate (chain) and key, PEM.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ClientCAFile, when set, asks every client for a certificate signed
	// by one of its CAs (PEM) and refuses clients without one: mutual TLS.
	ClientCAFile string `yaml:"client_ca_file"`
	// MinVersion is the lowest TLS version accepted: "1.2" (default) or "1.3".
	MinVersion string `yaml:"min_version"`
}

// On reports whether TLS is configured.
func (t TLSConfig) On() bool { return t.CertFile != "" }

// AuthConfig turns bearer-token authentication on when a token is set:
// every request needs `Authorization: Bearer <token>` (gRPC: the
// authorization metadata), else it is refused (HTTP 401, gRPC
// UNAUTHENTICATED) before anything else runs.
type AuthConfig struct {
	// Token is the token itself. Prefer TokenFile: a config file is often
	// readable by more people than a secret should be.
	Token string `yaml:"token"`
	// TokenFile holds the tokens, one per line (blank lines and lines
	// starting with # are skipped); several tokens let clients move from
	// an old one to a new one without a gap.
	TokenFile string `yaml:"token_file"`
}

// On reports whether bearer authentication is configured.
func (a AuthConfig) On() bool { return a.Token != "" || a.TokenFile != "" }

// On reports whether the listener listens.
func (c Config) On() bool { return c.Listen != Off }

// SetDefaults sets Listen to addr when it is empty.
func (c *Config) SetDefaults(addr string) {
	if c.Listen == "" {
		c.Listen = addr
	}
}

// Validate checks the shape of the settings (files are read by Load).
func (c Config) Validate() error {
	var errs []error
	if c.Listen != Off {
		_, port, err := net.SplitHostPort(c.Listen)
		if p, perr := strconv.Atoi(port); err != nil || perr != nil || p < 0 || p > 65535 {
			errs = append(errs, config.Errorf("listen", "%q: want host:port, or %s", c.Listen, Off))
		}
	}
	t := c.TLS
	if (t.CertFile == "") != (t.KeyFile == "") {
		errs = append(errs, config.Errorf("tls.cert_file", "cert_file and key_file go together"))
	}
	if t.ClientCAFile != "" && t.CertFile == "" {
		errs = append(errs, config.Errorf("tls.client_ca_file", "needs cert_file and key_file: mutual TLS is TLS first"))
	}
	if _, err := tlsVersion(t.MinVersion); err != nil {
		errs = append(errs, config.Errorf("tls.min_version", "%v", err))
	}
	if c.Auth.Token != "" && c.Auth.TokenFile != "" {
		errs = append(errs, config.Errorf("auth.token", "set token or token_file, not both"))
	}
	return errors.Join(errs...)
}

func tlsVersion(v string) (uint16, error) {
	switch v {
	case "", "1.2":
		return tls.VersionTLS12, nil
	case "1.3":
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("%q: want \"1.2\" or \"1.3\"", v)
}

// Endpoint is a Config with its certificates and tokens loaded: what a
// component listens with.
type Endpoint struct {
	cfg    Config
	tls    *tls.Config // nil without TLS
	tokens [][]byte    // none without auth
}

// Load validates cfg and reads its certificates and tokens.
func Load(cfg Config) (*Endpoint, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Endpoint{cfg: cfg}
	if cfg.TLS.On() {
		cert, err := tls.LoadX509KeyPair(cfg.TLS.CertFile, cfg.TLS.KeyFile)
		if err != nil {
			return nil, config.Errorf("tls.cert_file", "load certificate and key: %v", err)
		}
		minV, _ := tlsVersion(cfg.TLS.MinVersion)
		e.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: minV}
		if cfg.TLS.ClientCAFile != "" {
			pem, err := os.ReadFile(cfg.TLS.ClientCAFile)
			if err != nil {
				return nil, config.Errorf("tls.client_ca_file", "%v", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, config.Errorf("tls.client_ca_file", "%s holds no PEM certificate", cfg.TLS.ClientCAFile)
			}
			e.tls.ClientCAs = pool
			e.tls.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	switch {
	case cfg.Auth.Token != "":
		e.tokens = [][]byte{[]byte(cfg.Auth.Token)}
	case cfg.Auth.TokenFile != "":
		data, err := os.ReadFile(cfg.Auth.TokenFile)
		if err != nil {
			return nil, config.Errorf("auth.token_file", "%v", err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
				e.tokens = append(e.tokens, []byte(line))
			}
		}
		if len(e.tokens) == 0 {
			return nil, config.Errorf("auth.token_file", "%s holds no token", cfg.Auth.TokenFile)
		}
	}
	return e, nil
}

// Config is what the endpoint was loaded from.
func (e *Endpoint) Config() Config { return e.cfg }

// On reports whether the endpoint listens.
func (e *Endpoint) On() bool { return e.cfg.On() }

// TLSConfig is the server's TLS configuration, nil without TLS. The
// caller must not change it.
func (e *Endpoint) TLSConfig() *tls.Config { return e.tls }

// Scheme is https with TLS, else http.
func (e *Endpoint) Scheme() string {
	if e.tls != nil {
		return "https"
	}
	return "http"
}

// Authorized says whether an Authorization header value carries one of
// the tokens (always, without auth). The comparison takes the same time
// whatever the value.
func (e *Endpoint) Authorized(authorization string) bool {
	if len(e.tokens) == 0 {
		return true
	}
	scheme, token, ok := strings.Cut(authorization, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := []byte(strings.TrimSpace(token))
	match := 0
	for _, t := range e.tokens {
		match |= subtle.ConstantTimeCompare(got, t)
	}
	return match == 1
}

// Authenticate wraps h so that it only runs for requests with a token
// (every request, without auth).
func (e *Endpoint) Authenticate(h http.Handler) http.Handler {
	if len(e.tokens) == 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !e.Authorized(r.Header.Get("Authorization")) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="flowlens"`)
			http.Error(w, "missing or wrong bearer token", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}
