package chserver_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/flowlens/flowlens/internal/chtest"
	"github.com/flowlens/flowlens/internal/embedded/chserver"
)

// do sends one request as curl would, logged in (basic auth) as the user
// of role, or as nobody when role is "". It returns the status, the body
// and the headers of the answer.
func do(t *testing.T, role chserver.Role, method, url string, header http.Header, body string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if role != "" {
		user, password := chtest.Login(t, role)
		req.SetBasicAuth(user, password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}
