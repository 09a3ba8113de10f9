package agent

import "net/http"

// Healthz is a's /healthz handler, for tests that ask it after Run ended.
func Healthz(a *Agent) http.HandlerFunc { return a.healthz }
