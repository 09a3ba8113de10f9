package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
)

// A secret (a password, a webhook URL with its token) can be written in the
// config file itself, or kept out of it: in a file of its own readable only
// by the service (systemd's LoadCredential, a Kubernetes secret volume), or
// in an environment variable. Each secret field key has two siblings,
// <key>_file and <key>_env; at most one of the three is set.

// CheckSecret says whether at most one of a secret's three sources is set;
// key is the inline field's YAML key ("password"). It reads nothing.
func CheckSecret(key, inline, file, env string) error {
	set := 0
	for _, s := range []string{inline, file, env} {
		if s != "" {
			set++
		}
	}
	if set > 1 {
		return Errorf(key, "set one of %s, %s_file and %s_env", key, key, key)
	}
	return nil
}

// ReadSecret returns the secret from the source that is set: inline as it
// is, a file's content without its trailing newline, or an environment
// variable's value (which must be set). All three empty is "".
func ReadSecret(inline, file, env string) (string, error) {
	switch {
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("read secret file: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set", env)
		}
		return v, nil
	}
	return inline, nil
}

// RedactURL is what logs, errors and metric labels may show of a URL that
// can carry a secret (a webhook's token in its path, a password, a key in
// its query): its scheme and host. A value that is no URL shows as
// "(invalid URL)".
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(invalid URL)"
	}
	if u.Scheme == "" {
		return u.Host
	}
	return u.Scheme + "://" + u.Host
}

// RedactURLError rewrites the URL in an *url.Error (what net/http returns,
// with the whole URL) to its scheme and host.
func RedactURLError(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	return fmt.Errorf("%s %s: %w", ue.Op, RedactURL(ue.URL), ue.Err)
}
