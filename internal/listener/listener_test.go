package listener_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/listener"
	"github.com/flowlens/flowlens/internal/listener/listenertest"
)

func TestValidateNamesEveryMistake(t *testing.T) {
	err := listener.Config{
		Listen: "nowhere",
		TLS:    listener.TLSConfig{KeyFile: "k.pem", ClientCAFile: "ca.pem", MinVersion: "1.1"},
		Auth:   listener.AuthConfig{Token: "a", TokenFile: "b"},
	}.Validate()
	for _, want := range []string{"listen: \"nowhere\": want host:port, or off", "tls.cert_file", "tls.client_ca_file", "tls.min_version", "auth.token"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
	for _, ok := range []listener.Config{{Listen: "off"}, {Listen: "127.0.0.1:0"}, {Listen: "[::1]:8080", TLS: listener.TLSConfig{CertFile: "c", KeyFile: "k", MinVersion: "1.3"}}} {
		if err := ok.Validate(); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
	}
}

func TestLoadReadsTheFilesOrSaysWhichIsMissing(t *testing.T) {
	for _, c := range []struct {
		cfg   listener.Config
		field string
	}{
		{listener.Config{Listen: "127.0.0.1:0", TLS: listener.TLSConfig{CertFile: "/nonexistent/c.pem", KeyFile: "/nonexistent/k.pem"}}, "tls.cert_file"},
		{listener.Config{Listen: "127.0.0.1:0", Auth: listener.AuthConfig{TokenFile: "/nonexistent/token"}}, "auth.token_file"},
		{listener.Config{Listen: "127.0.0.1:0", Auth: listener.AuthConfig{TokenFile: listenertest.TokenFile(t)}}, "auth.token_file"},
	} {
		if _, err := listener.Load(c.cfg); err == nil || !strings.HasPrefix(err.Error(), c.field) {
			t.Errorf("Load(%+v) = %v, want an error about %s", c.cfg, err, c.field)
		}
	}
}

func serve(t *testing.T, cfg listener.Config) *listener.Server {
	t.Helper()
	e, err := listener.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	s, err := e.Serve(context.Background(), "test server", &http.Server{Handler: h}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	return s
}

func TestBearerTokens(t *testing.T) {
	s := serve(t, listener.Config{Listen: "127.0.0.1:0", Auth: listener.AuthConfig{TokenFile: listenertest.TokenFile(t, "old-token", "new-token")}})
	listenertest.CheckBearer(t, nil, s.URL(), "new-token", http.StatusOK)
	listenertest.CheckBearer(t, nil, s.URL(), "old-token", http.StatusOK)
	if code, _ := listenertest.Get(nil, s.URL(), ""); code != http.StatusUnauthorized {
		t.Errorf("no token: %d", code)
	}
}

func TestTLS(t *testing.T) {
	pki := listenertest.NewPKI(t)
	s := serve(t, listener.Config{Listen: "127.0.0.1:0", TLS: pki.ServerTLS(false), Auth: listener.AuthConfig{Token: "secret"}})
	if !strings.HasPrefix(s.URL(), "https://") {
		t.Fatalf("URL %s", s.URL())
	}
	listenertest.CheckBearer(t, pki.Client(listenertest.NoCert), s.URL(), "secret", http.StatusOK)
	// plain HTTP gets no answer it could use
	if code, _ := listenertest.Get(nil, "http://"+s.Addr(), "secret"); code == http.StatusOK {
		t.Errorf("plain HTTP to a TLS listener answered 200")
	}
	// a client that does not trust the CA refuses the server
	if _, err := listenertest.Get(&http.Client{}, s.URL(), "secret"); err == nil {
		t.Errorf("a client without the CA accepted the server")
	}
}

func TestMutualTLS(t *testing.T) {
	pki := listenertest.NewPKI(t)
	s := serve(t, listener.Config{Listen: "127.0.0.1:0", TLS: pki.ServerTLS(true)})
	pki.CheckMutualTLS(t, s.URL(), "", http.StatusOK)
}

func TestTLS13Only(t *testing.T) {
	pki := listenertest.NewPKI(t)
	cfg := pki.ServerTLS(false)
	cfg.MinVersion = "1.3"
	s := serve(t, listener.Config{Listen: "127.0.0.1:0", TLS: cfg})
	old := pki.ClientTLS(listenertest.NoCert)
	old.MaxVersion = 0x0303 // TLS 1.2
	_, err := listenertest.Get(&http.Client{Transport: &http.Transport{TLSClientConfig: old}}, s.URL(), "")
	if err == nil {
		t.Errorf("a TLS 1.2 client was served")
	}
}

func TestServeOnAnAddressInUse(t *testing.T) {
	s := serve(t, listener.Config{Listen: "127.0.0.1:0"})
	e, _ := listener.Load(listener.Config{Listen: s.Addr()})
	_, err := e.Serve(context.Background(), "second server", &http.Server{}, nil)
	if err == nil || !strings.Contains(err.Error(), "listen for the second server on "+s.Addr()) {
		t.Fatalf("Serve = %v", err)
	}
}

// A client built from ClientConfig shows what a listener with TLS and a
// token asks for.
func TestClientConfig(t *testing.T) {
	pki := listenertest.NewPKI(t)
	s := serve(t, listener.Config{Listen: "127.0.0.1:0", TLS: pki.ServerTLS(true), Auth: listener.AuthConfig{Token: "s3cret"}})
	c, err := listener.ClientConfig{CAFile: pki.CAFile, CertFile: pki.ClientCertFile, KeyFile: pki.ClientKeyFile,
		TokenFile: listenertest.TokenFile(t, "s3cret")}.HTTPClient(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if code, err := listenertest.Get(c, s.URL(), ""); err != nil || code != http.StatusOK {
		t.Errorf("GET with the client: %d %v", code, err)
	}
	if _, err := (listener.ClientConfig{TokenFile: "/nonexistent"}).HTTPClient(time.Second); err == nil || !strings.HasPrefix(err.Error(), "token_file") {
		t.Errorf("a missing token file: %v", err)
	}
}
