package flowgraph

import (
	"testing"

	"github.com/flowlens/flowlens/internal/deptest"
)

// TestAnalyzerDoesNotLinkStorage: the flow analyzer speaks the flow model
// (internal/flowmodel) and takes its store as an interface; storage and
// the ClickHouse client are linked by whoever injects *storage.Store.
func TestAnalyzerDoesNotLinkStorage(t *testing.T) {
	deptest.Forbid(t, "./...", 50,
		"github.com/flowlens/flowlens/storage",
		"github.com/ClickHouse/",
	)
}
