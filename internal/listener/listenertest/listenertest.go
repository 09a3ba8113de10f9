// Package listenertest gives tests of a listener (internal/listener) what
// they need to prove its TLS and bearer tokens: a throwaway CA with a
// server certificate for 127.0.0.1 and localhost and a client certificate,
// written to the test's folder; token files; clients; and the checks every
// listener is held to.
package listenertest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/listener"
)

// PKI is a CA and the certificates it signed, in files.
type PKI struct {
	CAFile                string // the CA's certificate, PEM
	CertFile, KeyFile     string // the server's, for 127.0.0.1, ::1 and localhost
	ClientCertFile        string // a client's, for mutual TLS
	ClientKeyFile         string
	pool                  *x509.CertPool
	clientCert, otherCert tls.Certificate
}

// NewPKI makes a CA, a server and a client certificate valid around now,
// and a client certificate of another CA (which a server must refuse).
func NewPKI(t testing.TB) *PKI {
	t.Helper()
	dir := t.TempDir()
	ca, caKey := newCA(t, "flowlens test CA")
	p := &PKI{CAFile: filepath.Join(dir, "ca.pem"), pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	writePEM(t, p.CAFile, "CERTIFICATE", ca.Raw)
	p.CertFile, p.KeyFile = filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
	issue(t, ca, caKey, &x509.Certificate{Subject: pkix.Name{CommonName: "flowlens server"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, p.CertFile, p.KeyFile)
	p.ClientCertFile, p.ClientKeyFile = filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem")
	issue(t, ca, caKey, &x509.Certificate{Subject: pkix.Name{CommonName: "flowlens client"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, p.ClientCertFile, p.ClientKeyFile)
	var err error
	if p.clientCert, err = tls.LoadX509KeyPair(p.ClientCertFile, p.ClientKeyFile); err != nil {
		t.Fatal(err)
	}
	other, otherKey := newCA(t, "another CA")
	oc, ok := filepath.Join(dir, "other.pem"), filepath.Join(dir, "other-key.pem")
	issue(t, other, otherKey, &x509.Certificate{Subject: pkix.Name{CommonName: "stranger"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, oc, ok)
	if p.otherCert, err = tls.LoadX509KeyPair(oc, ok); err != nil {
		t.Fatal(err)
	}
	return p
}

var serial int64

func newCA(t testing.TB, name string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func issue(t testing.TB, ca *x509.Certificate, caKey *ecdsa.PrivateKey, tmpl *x509.Certificate, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	tmpl.SerialNumber = big.NewInt(serial)
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, certFile, "CERTIFICATE", der)
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, keyFile, "EC PRIVATE KEY", kb)
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// ServerTLS is the listener's TLS settings with p's server certificate;
// mutual asks clients for a certificate of p's CA.
func (p *PKI) ServerTLS(mutual bool) listener.TLSConfig {
	c := listener.TLSConfig{CertFile: p.CertFile, KeyFile: p.KeyFile}
	if mutual {
		c.ClientCAFile = p.CAFile
	}
	return c
}

// Client kinds for ClientTLS.
const (
	NoCert       = iota // trusts p's CA, shows no certificate
	WithCert            // shows p's client certificate
	StrangerCert        // shows a certificate of another CA
)

// ClientTLS is a client's TLS config that trusts p's CA and shows the
// certificate of kind.
func (p *PKI) ClientTLS(kind int) *tls.Config {
	c := &tls.Config{RootCAs: p.pool, MinVersion: tls.VersionTLS12}
	switch kind {
	case WithCert:
		c.Certificates = []tls.Certificate{p.clientCert}
	case StrangerCert:
		c.Certificates = []tls.Certificate{p.otherCert}
	}
	return c
}

// Client is an HTTP client with ClientTLS(kind).
func (p *PKI) Client(kind int) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: p.ClientTLS(kind)}}
}

// TokenFile writes tokens into a file, one per line, and returns its path.
func TokenFile(t testing.TB, tokens ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte("# tokens of a test\n"+strings.Join(tokens, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Get sends GET url with the bearer token (none when empty) and returns
// the status code (0 when the request failed, as with a refused TLS
// handshake) and the error.
func Get(client *http.Client, url, token string) (int, error) {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// CheckBearer asserts what a listener with bearer token token does: a
// request without a token and one with a wrong token are refused with 401,
// one with the token is answered with want.
func CheckBearer(t testing.TB, client *http.Client, url, token string, want int) {
	t.Helper()
	for _, c := range []struct{ what, token string }{{"no token", ""}, {"a wrong token", token + "x"}} {
		if code, err := Get(client, url, c.token); err != nil || code != http.StatusUnauthorized {
			t.Errorf("GET %s with %s: %d %v, want 401", url, c.what, code, err)
		}
	}
	if code, err := Get(client, url, token); err != nil || code != want {
		t.Errorf("GET %s with the token: %d %v, want %d", url, code, err, want)
	}
}

// CheckMutualTLS asserts what a listener with p's server certificate and
// p's CA as client CA does: a client with p's client certificate is
// answered with want; one without a certificate, or with another CA's,
// is refused during the handshake.
func (p *PKI) CheckMutualTLS(t testing.TB, url, token string, want int) {
	t.Helper()
	if code, err := Get(p.Client(WithCert), url, token); err != nil || code != want {
		t.Errorf("GET %s with a client certificate: %d %v, want %d", url, code, err, want)
	}
	for _, c := range []struct {
		what string
		kind int
	}{{"no client certificate", NoCert}, {"another CA's certificate", StrangerCert}} {
		if code, err := Get(p.Client(c.kind), url, token); err == nil {
			t.Errorf("GET %s with %s: answered %d, want the handshake refused", url, c.what, code)
		}
	}
}
