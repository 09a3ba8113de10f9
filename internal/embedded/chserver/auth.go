package chserver

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// credentialsOf reads the user and password of a request the ways
// ClickHouse's HTTP interface does: X-ClickHouse-User / X-ClickHouse-Key,
// HTTP basic auth, or the user / password URL arguments; only one of them.
// given is false when the request names no user at all.
func credentialsOf(hr *http.Request) (user, password string, given bool, err error) {
	q := hr.URL.Query()
	hUser, hKey := hr.Header.Get("X-ClickHouse-User"), hr.Header.Get("X-ClickHouse-Key")
	bUser, bPass, basic := hr.BasicAuth()
	qUser, qPass := q.Get("user"), q.Get("password")
	methods := 0
	for _, used := range []bool{hUser != "" || hKey != "", basic, qUser != "" || qPass != ""} {
		if used {
			methods++
		}
	}
	if methods > 1 {
		return "", "", true, &httpError{status: http.StatusForbidden, code: 516,
			msg: "Code: 516. DB::Exception: Invalid authentication: it is not allowed to use more than one of X-ClickHouse-User/Key headers, the Authorization header and the user/password URL arguments. (AUTHENTICATION_FAILED)"}
	}
	switch {
	case hUser != "" || hKey != "":
		return hUser, hKey, true, nil
	case basic:
		return bUser, bPass, true, nil
	case qUser != "" || qPass != "":
		return qUser, qPass, true, nil
	}
	return "", "", false, nil
}

// authenticate returns the request's user and role, or the error
// ClickHouse gives: REQUIRED_PASSWORD (401, with a Basic challenge so a
// browser or curl asks) when the request names nobody, and
// AUTHENTICATION_FAILED (403) for a wrong name or password.
func (s *Server) authenticate(hr *http.Request) (string, Role, error) {
	user, password, given, err := credentialsOf(hr)
	if err != nil {
		return "", "", err
	}
	if !given {
		return "", "", &httpError{status: http.StatusUnauthorized, code: 194,
			msg: "Code: 194. DB::Exception: default: Authentication failed: password is required: the embedded endpoint has no passwordless user; use one of " + CredentialsFileName + ". (REQUIRED_PASSWORD)"}
	}
	if user == "" {
		user = "default"
	}
	role, ok := s.creds.authenticate(user, password)
	if !ok {
		return "", "", &httpError{status: http.StatusForbidden, code: 516,
			msg: fmt.Sprintf("Code: 516. DB::Exception: %s: Authentication failed: password is incorrect, or there is no user with such name. (AUTHENTICATION_FAILED)", user)}
	}
	return user, role, nil
}

// checkBrowser refuses what only a browser tricked by another site sends:
// a Host that is not a name of this machine (a page pointing its own
// domain at this address: DNS rebinding), and a cross-site request
// (Origin of another site, or Sec-Fetch-Site cross-site/same-site: CSRF).
// Clients that are not browsers send neither Origin nor Sec-Fetch-*.
func (s *Server) checkBrowser(hr *http.Request) error {
	if !s.hostAllowed(hr.Host) {
		return accessDenied("", fmt.Sprintf("Host %q is not a name of this endpoint (a page of another site pointing its name at this address?); add it to clickhouse.allowed_hosts if it is yours", hr.Host))
	}
	origin := hr.Header.Get("Origin")
	if origin != "" && !s.originAllowed(origin, hr.Host) {
		return accessDenied("", fmt.Sprintf("requests from pages of %s are not allowed (cross-site request); add it to clickhouse.allowed_origins if it is yours", origin))
	}
	if site := hr.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" && origin == "" {
		return accessDenied("", "cross-site requests from browsers are not allowed")
	}
	return nil
}

func (s *Server) hostAllowed(hostport string) bool {
	if hostport == "" {
		return true // HTTP/1.0 without Host: no browser sends that
	}
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if net.ParseIP(host) != nil {
		return true // an address cannot be rebound
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") || (s.hostname != "" && host == s.hostname) {
		return true
	}
	for _, h := range s.cfg.AllowedHosts {
		if strings.EqualFold(h, host) {
			return true
		}
	}
	return false
}

func (s *Server) originAllowed(origin, host string) bool {
	for _, o := range s.cfg.AllowedOrigins {
		if strings.EqualFold(strings.TrimSuffix(o, "/"), origin) {
			return true
		}
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, host) // a page this endpoint served
}
