package tail

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRecursiveGlob: ** finds files at any depth, also in folders made
// after the start; it does not walk into a folder link (one out of the
// tree, or a loop), and {a,b} picks alternatives.
func TestRecursiveGlob(t *testing.T) {
	dir := t.TempDir()
	logs := filepath.Join(dir, "pods")
	secret := filepath.Join(t.TempDir(), "secrets")
	os.MkdirAll(secret, 0o755)
	appendLines(t, filepath.Join(secret, "shadow.log"), 0, 5)
	os.MkdirAll(filepath.Join(logs, "ns_a", "web"), 0o755)
	appendLines(t, filepath.Join(logs, "top.log"), 0, 2)
	appendLines(t, filepath.Join(logs, "ns_a", "web", "0.log"), 0, 3)
	appendLines(t, filepath.Join(logs, "ns_a", "web", "0.txt"), 0, 3) // not named
	os.Symlink(secret, filepath.Join(logs, "ns_a", "out"))            // out of the tree
	os.Symlink(logs, filepath.Join(logs, "ns_a", "loop"))             // a loop
	s := &sink{}
	r := start(t, Config{Include: []string{filepath.Join(logs, "**", "*.{log,out}")}}, filepath.Join(dir, "c.json"), s)
	s.waitCount(t, 5)
	// a folder made after the start, two levels down
	os.MkdirAll(filepath.Join(logs, "ns_b", "api", "1"), 0o755)
	appendLines(t, filepath.Join(logs, "ns_b", "api", "1", "x.out"), 0, 4)
	s.waitCount(t, 9)
	r.settle(t)
	got := s.snapshot()
	var top, web, api []string
	for _, l := range got {
		switch {
		case strings.HasSuffix(l, "of top.log"):
			top = append(top, l)
		case strings.HasSuffix(l, "of 0.log"):
			web = append(web, l)
		case strings.HasSuffix(l, "of x.out"):
			api = append(api, l)
		default:
			t.Errorf("read %q: not named by the pattern", l)
		}
	}
	checkExact(t, top, 2, "top.log")
	checkExact(t, web, 3, "0.log")
	checkExact(t, api, 4, "x.out")
}

func TestGlobConfigErrors(t *testing.T) {
	c := Config{Include: []string{"/var/log/**/[a.log"}, Exclude: []string{"{x"}}
	c.SetDefaults()
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "include[0]") || !strings.Contains(err.Error(), "exclude[0]") {
		t.Fatalf("Validate = %v, want include[0] and exclude[0] named", err)
	}
}
