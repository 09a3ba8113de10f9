package kafkawire

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/flowlens/flowlens/internal/config"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// ClientConfig says how every flowlens component (agent, collector, flowgraph)
// reaches Kafka through kafka-go. An empty Brokers list means "use the
// embedded broker"; the component that starts it fills Brokers before it
// builds clients.
type ClientConfig struct {
	// Brokers are the bootstrap host:port addresses.
	Brokers []string `yaml:"brokers"`
	// ClientID is sent to the brokers with every request; default "flowlens".
	ClientID string `yaml:"client_id"`
	// DialTimeout bounds connection set-up (TCP, TLS, SASL); default 10s.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	TLS         TLSConfig     `yaml:"tls"`
	SASL        SASLConfig    `yaml:"sasl"`
}

// TLSConfig enables TLS to the brokers.
type TLSConfig struct {
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM bundle of CAs to trust; empty means the system pool.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a client certificate for mutual TLS.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name checked in the broker's certificate.
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// SASL mechanisms understood by ClientConfig.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// SASLConfig enables SASL authentication.
type SASLConfig struct {
	// Mechanism is empty (no SASL), PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	Mechanism string `yaml:"mechanism"`
	Username  string `yaml:"username"`
	// Password, or PasswordFile (a file holding it, read when clients are
	// built), or PasswordEnv (an environment variable holding it): set one.
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	PasswordEnv  string `yaml:"password_env"`
}

// ReadPassword returns the password from where the config says it is.
func (c *SASLConfig) ReadPassword() (string, error) {
	p, err := config.ReadSecret(c.Password, c.PasswordFile, c.PasswordEnv)
	if err != nil {
		return "", fmt.Errorf("kafka sasl password: %w", err)
	}
	return p, nil
}

// SetDefaults fills the unset fields.
func (c *ClientConfig) SetDefaults() {
	if c.ClientID == "" {
		c.ClientID = "flowlens"
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = 10 * time.Second
	}
}

// Validate checks the addresses and the security settings, and reports
// every mistake. An empty broker list is valid (it selects the embedded
// broker).
func (c *ClientConfig) Validate() error {
	var errs []error
	for i, b := range c.Brokers {
		host, port, err := net.SplitHostPort(b)
		if err != nil || host == "" {
			errs = append(errs, config.Errorf(fmt.Sprintf("brokers[%d]", i), "%q must be host:port", b))
		} else if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
			errs = append(errs, config.Errorf(fmt.Sprintf("brokers[%d]", i), "%q has an invalid port", b))
		}
	}
	if c.DialTimeout < 0 {
		errs = append(errs, config.Errorf("dial_timeout", "must not be negative"))
	}
	if c.TLS.Enabled {
		if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
			errs = append(errs, config.Errorf("tls.cert_file", "cert_file and key_file must be set together"))
		}
	} else if c.TLS.CAFile != "" || c.TLS.CertFile != "" {
		errs = append(errs, config.Errorf("tls.enabled", "TLS files are set but tls.enabled is false"))
	}
	errs = append(errs, config.Nest("sasl", config.CheckSecret("password", c.SASL.Password, c.SASL.PasswordFile, c.SASL.PasswordEnv)))
	switch strings.ToUpper(c.SASL.Mechanism) {
	case "":
		if c.SASL.Username != "" {
			errs = append(errs, config.Errorf("sasl.mechanism", "a username is set but no mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)"))
		}
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
		if c.SASL.Username == "" {
			errs = append(errs, config.Errorf("sasl.username", "required with mechanism %s", c.SASL.Mechanism))
		}
	default:
		errs = append(errs, config.Errorf("sasl.mechanism", "%q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", c.SASL.Mechanism))
	}
	return errors.Join(errs...)
}

// TLSClientConfig builds the *tls.Config, or nil when TLS is disabled.
func (c *ClientConfig) TLSClientConfig() (*tls.Config, error) {
	if !c.TLS.Enabled {
		return nil, nil
	}
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         c.TLS.ServerName,
		InsecureSkipVerify: c.TLS.InsecureSkipVerify, //nolint:gosec // explicit user choice
	}
	if c.TLS.CAFile != "" {
		pem, err := os.ReadFile(c.TLS.CAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka tls: read ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka tls: ca_file %s holds no PEM certificate", c.TLS.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.TLS.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.TLS.CertFile, c.TLS.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("kafka tls: load client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// SASLMechanism builds the kafka-go SASL mechanism, or nil without SASL.
func (c *ClientConfig) SASLMechanism() (sasl.Mechanism, error) {
	mech := strings.ToUpper(c.SASL.Mechanism)
	if mech == "" {
		return nil, nil
	}
	password, err := c.SASL.ReadPassword()
	if err != nil {
		return nil, err
	}
	switch mech {
	case SASLPlain:
		return plain.Mechanism{Username: c.SASL.Username, Password: password}, nil
	case SASLScramSHA256:
		m, err := scram.Mechanism(scram.SHA256, c.SASL.Username, password)
		if err != nil {
			return nil, fmt.Errorf("kafka sasl: %w", err)
		}
		return m, nil
	case SASLScramSHA512:
		m, err := scram.Mechanism(scram.SHA512, c.SASL.Username, password)
		if err != nil {
			return nil, fmt.Errorf("kafka sasl: %w", err)
		}
		return m, nil
	}
	return nil, fmt.Errorf("kafka sasl: unknown mechanism %q", c.SASL.Mechanism)
}

// security is the TLS config and the SASL mechanism of a connection.
func (c *ClientConfig) security() (*tls.Config, sasl.Mechanism, error) {
	tc, err := c.TLSClientConfig()
	if err != nil {
		return nil, nil, err
	}
	m, err := c.SASLMechanism()
	if err != nil {
		return nil, nil, err
	}
	return tc, m, nil
}

// Dialer builds a kafka-go Dialer (used by Readers and Conns).
func (c *ClientConfig) Dialer() (*kafka.Dialer, error) {
	tc, m, err := c.security()
	if err != nil {
		return nil, err
	}
	return &kafka.Dialer{
		ClientID:      c.clientID(),
		Timeout:       c.dialTimeout(),
		DualStack:     true,
		KeepAlive:     30 * time.Second,
		TLS:           tc,
		SASLMechanism: m,
	}, nil
}

// Transport builds a NEW kafka-go Transport (used by Writers and Clients).
// Each client gets its own: the shared kafka.DefaultTransport caches topic
// metadata for seconds and fails writes to topics created meanwhile.
func (c *ClientConfig) Transport() (*kafka.Transport, error) {
	tc, m, err := c.security()
	if err != nil {
		return nil, err
	}
	return &kafka.Transport{
		ClientID:    c.clientID(),
		DialTimeout: c.dialTimeout(),
		TLS:         tc,
		SASL:        m,
		MetadataTTL: 2 * time.Second,
	}, nil
}

// Client builds a kafka-go admin Client bound to the first broker.
func (c *ClientConfig) Client() (*kafka.Client, error) {
	if len(c.Brokers) == 0 {
		return nil, fmt.Errorf("kafka: no brokers configured")
	}
	t, err := c.Transport()
	if err != nil {
		return nil, err
	}
	return &kafka.Client{Addr: kafka.TCP(c.Brokers...), Transport: t, Timeout: 30 * time.Second}, nil
}

func (c *ClientConfig) clientID() string {
	if c.ClientID == "" {
		return "flowlens"
	}
	return c.ClientID
}

func (c *ClientConfig) dialTimeout() time.Duration {
	if c.DialTimeout <= 0 {
		return 10 * time.Second
	}
	return c.DialTimeout
}
