package listener

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/flowlens/flowlens/internal/config"
)

// ClientConfig is how a client of a flowlens listener (the CLI, the
// console, the rules evaluator scraping the analyzer) shows what the
// listener asks for:
//
//	ca_file: /etc/flowlens/ca.pem      # trust a listener's certificate (default: the system's CAs)
//	cert_file: client.pem              # mutual TLS
//	key_file: client-key.pem
//	token_file: /etc/flowlens/token    # sent as Authorization: Bearer <first token of the file>; or token: ...
type ClientConfig struct {
	CAFile    string `yaml:"ca_file"`
	CertFile  string `yaml:"cert_file"`
	KeyFile   string `yaml:"key_file"`
	Token     string `yaml:"token"`
	TokenFile string `yaml:"token_file"`
}

// Validate checks the shape of the settings (files are read by HTTPClient).
func (c ClientConfig) Validate() error {
	var errs []error
	if (c.CertFile == "") != (c.KeyFile == "") {
		errs = append(errs, config.Errorf("cert_file", "cert_file and key_file go together"))
	}
	if c.Token != "" && c.TokenFile != "" {
		errs = append(errs, config.Errorf("token", "set token or token_file, not both"))
	}
	return errors.Join(errs...)
}

// HTTPClient is an http.Client with the settings' CA, certificate and
// token, and the timeout.
func (c ClientConfig) HTTPClient(timeout time.Duration) (*http.Client, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if c.CAFile != "" || c.CertFile != "" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if c.CAFile != "" {
			pem, err := os.ReadFile(c.CAFile)
			if err != nil {
				return nil, config.Errorf("ca_file", "%v", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return nil, config.Errorf("ca_file", "%s holds no PEM certificate", c.CAFile)
			}
		}
		if c.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
			if err != nil {
				return nil, config.Errorf("cert_file", "load certificate and key: %v", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		tr.TLSClientConfig = tc
	}
	token := c.Token
	if c.TokenFile != "" {
		data, err := os.ReadFile(c.TokenFile)
		if err != nil {
			return nil, config.Errorf("token_file", "%v", err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				token = line
				break
			}
		}
		if token == "" {
			return nil, config.Errorf("token_file", "%s holds no token", c.TokenFile)
		}
	}
	var rt http.RoundTripper = tr
	if token != "" {
		rt = bearer{token: token, next: tr}
	}
	return &http.Client{Timeout: timeout, Transport: rt}, nil
}

// bearer adds the token to every request.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}
