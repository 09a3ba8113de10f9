package config_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowlens/flowlens/internal/config"
)

func TestSecretSources(t *testing.T) {
	file := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(file, []byte("from-file\r\n"), 0o600)
	t.Setenv("TEST_SECRET", "from-env")
	for _, tc := range []struct{ inline, file, env, want string }{
		{"inline", "", "", "inline"},
		{"", file, "", "from-file"},
		{"", "", "TEST_SECRET", "from-env"},
		{"", "", "", ""},
	} {
		if got, err := config.ReadSecret(tc.inline, tc.file, tc.env); err != nil || got != tc.want {
			t.Errorf("%+v: %q %v", tc, got, err)
		}
	}
	if _, err := config.ReadSecret("", "", "TEST_SECRET_UNSET"); err == nil || !strings.Contains(err.Error(), "TEST_SECRET_UNSET is not set") {
		t.Errorf("unset variable: %v", err)
	}
	if err := config.CheckSecret("password", "a", file, ""); err == nil || err.Error() != "password: set one of password, password_file and password_env" {
		t.Errorf("two sources: %v", err)
	}
}

func TestRedactURL(t *testing.T) {
	for raw, want := range map[string]string{
		"https://hooks.slack.com/services/T0/B0/XYZ":         "https://hooks.slack.com",
		"http://user:pw@ch:8123/db?password=x":               "http://ch:8123",
		"localhost:9093":                                     "(invalid URL)",
		"https://alertmanager.example:9093/api?token=secret": "https://alertmanager.example:9093",
	} {
		if got := config.RedactURL(raw); got != want {
			t.Errorf("%s: %q, want %q", raw, got, want)
		}
	}
	_, err := http.Get("http://127.0.0.1:1/hook/SECRET-TOKEN")
	if err = config.RedactURLError(err); err == nil || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("redacted error %v", err)
	}
}
