package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// repoPathRe finds paths into the repository in prose: a top-level folder
// of it followed by more path.
var repoPathRe = regexp.MustCompile("(?:agent|cmd|collector|dashboards|examples|flowgraph|internal|loadtest|rules|scripts|storage)/[A-Za-z0-9_./*-]*")

// missingPaths returns the repository paths text cites that do not exist.
func missingPaths(t *testing.T, text string) []string {
	t.Helper()
	var missing []string
	for _, loc := range repoPathRe.FindAllStringIndex(text, -1) {
		if loc[0] > 0 && strings.ContainsAny(text[loc[0]-1:loc[0]], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./-:") {
			continue // part of a longer word, a URL or a Go import path
		}
		p := strings.TrimRight(text[loc[0]:loc[1]], ".")
		if !exists(p) {
			missing = append(missing, p)
		}
	}
	return missing
}

// exists reports whether a path (or glob) of the repository is there. A Go
// name after a package's path (rules/eval.Config) cites the package.
func exists(p string) bool {
	if i := strings.LastIndex(p, "."); i > strings.LastIndex(p, "/") && i+1 < len(p) && p[i+1] >= 'A' && p[i+1] <= 'Z' {
		p = p[:i]
	}
	m, _ := filepath.Glob(filepath.Join("..", "..", p))
	return len(m) > 0
}

// Every file or folder that a command's --help cites exists.
func TestHelpCitesExistingFiles(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		text := c.Long + "\n" + c.Example
		c.Flags().VisitAll(func(f *pflag.Flag) { text += "\n" + f.Usage })
		for _, p := range missingPaths(t, text) {
			t.Errorf("`%s --help` cites %s, which does not exist", c.CommandPath(), p)
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd())
}

// Every file or folder the README cites exists, the layout table's
// folders among them.
func TestReadmeCitesExistingFiles(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range missingPaths(t, string(readme)) {
		t.Errorf("README.md cites %s, which does not exist", p)
	}
	for _, m := range regexp.MustCompile("(?m)^\\| `([^`]+/)` \\|").FindAllStringSubmatch(string(readme), -1) {
		if !exists(m[1]) {
			t.Errorf("README.md's layout lists %s, which does not exist", m[1])
		}
	}
}
