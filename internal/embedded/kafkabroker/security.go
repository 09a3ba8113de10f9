package kafkabroker

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"

	"github.com/flowlens/flowlens/internal/config"
	"github.com/flowlens/flowlens/internal/kafkawire"
	"github.com/twmb/franz-go/pkg/kfake"
)

// TLSConfig serves the broker over TLS. The keys are those of the OTel
// Collector's configtls server settings.
type TLSConfig struct {
	// CertFile and KeyFile are the broker's certificate chain and key
	// (PEM). Clients must trust it and reach the broker by a name or IP in
	// it: the broker advertises addr.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ClientCAFile, when set, requires clients to present a certificate
	// signed by one of these CAs (mutual TLS).
	ClientCAFile string `yaml:"client_ca_file"`
}

// Enabled says whether the broker serves TLS.
func (t TLSConfig) Enabled() bool { return t.CertFile != "" }

func (c *Config) validateSecurity() error {
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		return config.Errorf("tls.cert_file", "cert_file and key_file must be set together")
	}
	if c.TLS.ClientCAFile != "" && !c.TLS.Enabled() {
		return config.Errorf("tls.client_ca_file", "needs cert_file and key_file")
	}
	s := c.SASL
	if err := config.CheckSecret("password", s.Password, s.PasswordFile, s.PasswordEnv); err != nil {
		return config.Nest("sasl", err)
	}
	switch strings.ToUpper(s.Mechanism) {
	case "":
		if s.Username != "" || s.Password != "" || s.PasswordFile != "" || s.PasswordEnv != "" {
			return config.Errorf("sasl.mechanism", "a user is set but no mechanism (SCRAM-SHA-256, SCRAM-SHA-512)")
		}
		return nil
	case kafkawire.SASLScramSHA256, kafkawire.SASLScramSHA512:
	case kafkawire.SASLPlain:
		if !c.TLS.Enabled() {
			return config.Errorf("sasl.mechanism", "PLAIN sends the password in clear: use SCRAM-SHA-256 or SCRAM-SHA-512, or serve TLS")
		}
	default:
		return config.Errorf("sasl.mechanism", "%q: want SCRAM-SHA-256 or SCRAM-SHA-512", s.Mechanism)
	}
	if s.Username == "" {
		return config.Errorf("sasl.username", "required with mechanism %s", s.Mechanism)
	}
	if s.Password == "" && s.PasswordFile == "" && s.PasswordEnv == "" {
		return config.Errorf("sasl.password", "required with mechanism %s (or password_file, password_env)", s.Mechanism)
	}
	return nil
}

// serverConfig loads the certificates, or returns nil without TLS.
func (t TLSConfig) serverConfig() (*tls.Config, error) {
	if !t.Enabled() {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("kafka broker tls: load certificate: %w", err)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if t.ClientCAFile != "" {
		pem, err := os.ReadFile(t.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka broker tls: read client_ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka broker tls: client_ca_file %s holds no PEM certificate", t.ClientCAFile)
		}
		tc.ClientCAs, tc.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

// saslOpts turns on kfake's SASL with the configured user as its only
// one. kfake.EnableSASL alone would let admin/admin in.
func (c *Config) saslOpts() ([]kfake.Opt, error) {
	mech := strings.ToUpper(c.SASL.Mechanism)
	if mech == "" {
		return nil, nil
	}
	password, err := c.SASL.ReadPassword()
	if err != nil {
		return nil, fmt.Errorf("kafka broker: %w", err)
	}
	if password == "" {
		return nil, fmt.Errorf("kafka broker: sasl password is empty")
	}
	return []kfake.Opt{kfake.EnableSASL(), kfake.Superuser(mech, c.SASL.Username, password)}, nil
}

// ClientSecurity sets what a client of this broker needs to connect, on a
// client config that says nothing about TLS or SASL itself: the broker's
// user, and trust in the broker's certificate. A client config with its
// own tls or sasl is left alone.
func (c *Config) ClientSecurity(cc *kafkawire.ClientConfig) {
	if c.SASL.Mechanism != "" && cc.SASL.Mechanism == "" {
		cc.SASL = c.SASL
	}
	if c.TLS.Enabled() && !cc.TLS.Enabled {
		cc.TLS = kafkawire.TLSConfig{Enabled: true, CAFile: c.TLS.CertFile}
	}
}
