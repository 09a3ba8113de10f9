// Package semconvtest stands in for contrib's pkg/semconvtest, which the Go
// module proxy here does not serve (403 for v0.165.0 and v0.165.1). Only the
// tests of the journald stanza operator import it, so `go mod tidy` needs the
// module to resolve but no binary links it; builder-config.yaml replaces the
// real module with this one.
package semconvtest
