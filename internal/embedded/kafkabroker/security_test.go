package kafkabroker_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/embedded/kafkabroker"
	"github.com/flowlens/flowlens/internal/kafkatest"
	"github.com/flowlens/flowlens/internal/kafkawire"
	"github.com/segmentio/kafka-go"
)

func startWith(t *testing.T, edit func(*kafkabroker.Config)) *kafkabroker.Broker {
	t.Helper()
	var cfg kafkabroker.Config
	edit(&cfg)
	return kafkatest.Start(t, cfg)
}

// produce writes one message as the client config says, and returns the
// error a producer sees.
func produce(t *testing.T, cc kafkawire.ClientConfig) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tr, err := cc.Transport()
	if err != nil {
		t.Fatal(err)
	}
	w := &kafka.Writer{Addr: kafka.TCP(cc.Brokers...), Topic: kafkawire.DefaultSpansTopic, Transport: tr,
		RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond, MaxAttempts: 1}
	defer w.Close()
	return w.WriteMessages(ctx, kafka.Message{Value: []byte("m")})
}

func TestBrokerWithSCRAMAdmitsOnlyItsUser(t *testing.T) {
	pwFile := filepath.Join(t.TempDir(), "kafka-password")
	if err := os.WriteFile(pwFile, []byte("s3cret-from-a-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, mech := range []string{kafkawire.SASLScramSHA256, kafkawire.SASLScramSHA512} {
		t.Run(mech, func(t *testing.T) {
			b := startWith(t, func(c *kafkabroker.Config) {
				c.SASL = kafkawire.SASLConfig{Mechanism: mech, Username: "flowlens", PasswordFile: pwFile}
			})
			brokers := b.Addrs()
			if err := produce(t, kafkawire.ClientConfig{Brokers: brokers}); err == nil {
				t.Error("a client without SASL produced")
			}
			wrong := kafkawire.ClientConfig{Brokers: brokers, SASL: kafkawire.SASLConfig{Mechanism: mech, Username: "flowlens", Password: "guess"}}
			if err := produce(t, wrong); err == nil {
				t.Error("a client with a wrong password produced")
			}
			admin := kafkawire.ClientConfig{Brokers: brokers, SASL: kafkawire.SASLConfig{Mechanism: mech, Username: "admin", Password: "admin"}}
			if err := produce(t, admin); err == nil {
				t.Error("kfake's default admin/admin produced")
			}
			t.Setenv("TEST_KAFKA_PASSWORD", "s3cret-from-a-file")
			right := kafkawire.ClientConfig{Brokers: brokers, SASL: kafkawire.SASLConfig{Mechanism: mech, Username: "flowlens", PasswordEnv: "TEST_KAFKA_PASSWORD"}}
			if err := produce(t, right); err != nil {
				t.Errorf("the configured user: %v", err)
			}
		})
	}
}

func TestBrokerWithTLSServesOnlyTLS(t *testing.T) {
	certFile, keyFile := writeCert(t)
	b := startWith(t, func(c *kafkabroker.Config) {
		c.TLS = kafkabroker.TLSConfig{CertFile: certFile, KeyFile: keyFile}
	})
	brokers := b.Addrs()
	if err := produce(t, kafkawire.ClientConfig{Brokers: brokers}); err == nil {
		t.Error("a plaintext client produced")
	}
	var cc kafkawire.ClientConfig
	cfg := kafkabroker.Config{TLS: kafkabroker.TLSConfig{CertFile: certFile, KeyFile: keyFile}}
	cfg.ClientSecurity(&cc)
	cc.Brokers = brokers
	if err := produce(t, cc); err != nil {
		t.Errorf("a client trusting the broker's certificate: %v", err)
	}
}

// TLS and SASL together, and the guard still reads the requests (in clear,
// after TLS): an oversized one drops the connection.
func TestBrokerWithTLSAndSASLStillGuardsRequests(t *testing.T) {
	certFile, keyFile := writeCert(t)
	sasl := kafkawire.SASLConfig{Mechanism: kafkawire.SASLScramSHA512, Username: "u", Password: "p"}
	b := startWith(t, func(c *kafkabroker.Config) {
		c.TLS = kafkabroker.TLSConfig{CertFile: certFile, KeyFile: keyFile}
		c.SASL = sasl
	})
	cc := kafkawire.ClientConfig{Brokers: b.Addrs(), SASL: sasl, TLS: kafkawire.TLSConfig{Enabled: true, CAFile: certFile}}
	if err := produce(t, cc); err != nil {
		t.Fatalf("TLS + SCRAM client: %v", err)
	}
	tc, err := cc.TLSClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	d, err := (&net.Dialer{Timeout: 10 * time.Second}).DialContext(context.Background(), "tcp", b.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	tc.ServerName = "127.0.0.1"
	c := tls.Client(d, tc)
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte{0xff, 0xff, 0xff, 0xf0}); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, c)
	if b.RefusedConnections() != 1 {
		t.Errorf("refused %d connections, want 1", b.RefusedConnections())
	}
}

func TestBrokerSecurityConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*kafkabroker.Config)
		want string
	}{
		{"plain in clear", func(c *kafkabroker.Config) {
			c.SASL = kafkawire.SASLConfig{Mechanism: "PLAIN", Username: "u", Password: "p"}
		}, "sasl.mechanism:"},
		{"no password", func(c *kafkabroker.Config) {
			c.SASL = kafkawire.SASLConfig{Mechanism: "SCRAM-SHA-256", Username: "u"}
		}, "sasl.password:"},
		{"two passwords", func(c *kafkabroker.Config) {
			c.SASL = kafkawire.SASLConfig{Mechanism: "SCRAM-SHA-256", Username: "u", Password: "p", PasswordFile: "/f"}
		}, "sasl.password:"},
		{"key without cert", func(c *kafkabroker.Config) { c.TLS.KeyFile = "k" }, "tls.cert_file:"},
		{"request below message", func(c *kafkabroker.Config) { c.MaxRequestBytes = 2048; c.MaxMessageBytes = 4096 }, "max_request_bytes:"},
	} {
		cfg := kafkabroker.Config{}
		tc.edit(&cfg)
		cfg.SetDefaults()
		if err := cfg.Validate(); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %s...", tc.name, err, tc.want)
		}
	}
}

// writeCert writes a self-signed certificate for 127.0.0.1 and its key.
func writeCert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "flowlens test broker"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
