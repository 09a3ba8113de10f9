package e2e

import (
	"path/filepath"

	"github.com/flowlens/flowlens/agent"
	"github.com/flowlens/flowlens/agent/parse"
	"github.com/flowlens/flowlens/agent/tail"
)

// demoSource tails the synthetic shop's JSON log files.
func demoSource(dir string) agent.FileSource {
	return agent.FileSource{
		Name:   "shop",
		Config: tail.Config{Include: []string{filepath.Join(dir, "*.log")}},
		Parse:  parse.Config{Format: parse.FormatJSON},
	}
}
