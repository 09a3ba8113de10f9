package rulefile_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/flowlens/flowlens/internal/golden"
	"github.com/flowlens/flowlens/rules/rulefile"
	"github.com/flowlens/flowlens/rules/ruletest"
)

const readme = "../README.md"

// readmeMarker introduces the fenced block after it:
//
//	<!-- file: NAME -->           a rule file, loaded without problems unless a check block names it
//	<!-- export: NAME -->         what `flowlens rules export NAME` prints (generated)
//	<!-- export-inline: NAME -->  what `flowlens rules export --inline NAME` prints (generated)
//	<!-- check: NAME -->          the problems `flowlens rules check NAME` prints (generated)
//	<!-- test: NAME -->           a `flowlens rules test` file that passes
var readmeMarker = regexp.MustCompile(`^<!-- (file|export|export-inline|check|test): (\S+) -->$`)

type readmeBlock struct {
	kind, name string
	from, to   int // content lines [from, to) of the fenced block
}

// The README's examples are the compiler's: every rule file in it loads, and
// every compiled form, problem list and unit test shown is what the code
// gives today. Run with -update to regenerate the generated blocks.
func TestReadmeExamples(t *testing.T) {
	data, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	blocks := readmeBlocks(t, lines)
	dir := t.TempDir()
	files := map[string][]byte{}
	checked := map[string]bool{}
	for _, b := range blocks {
		content := []byte(strings.Join(lines[b.from:b.to], "\n") + "\n")
		switch b.kind {
		case "file", "test":
			if _, dup := files[b.name]; dup {
				t.Fatalf("%s: %s shown twice", readme, b.name)
			}
			files[b.name] = content
			if err := os.WriteFile(filepath.Join(dir, b.name), content, 0o644); err != nil {
				t.Fatal(err)
			}
		case "check":
			checked[b.name] = true
		}
	}

	generated := map[int][]string{} // block index -> its content as generated
	for i, b := range blocks {
		src, ok := files[b.name]
		if !ok && b.kind != "file" {
			t.Errorf("%s:%d: %s %s: no file block of that name before it", readme, b.from, b.kind, b.name)
			continue
		}
		switch b.kind {
		case "file":
			if _, diags := rulefile.Load(b.name, src, rulefile.Options{}); len(diags) > 0 && !checked[b.name] {
				t.Errorf("%s:%d: %s does not load:\n%v", readme, b.from, b.name, diags)
			}
		case "export", "export-inline":
			groups, diags := rulefile.Load(b.name, src, rulefile.Options{Inline: b.kind == "export-inline"})
			if len(diags) > 0 {
				t.Errorf("%s:%d: %s does not load:\n%v", readme, b.from, b.name, diags)
				continue
			}
			out, err := rulefile.Export(groups)
			if err != nil {
				t.Fatal(err)
			}
			generated[i] = strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
		case "check":
			_, diags := rulefile.Load(b.name, src, rulefile.Options{})
			if len(diags) == 0 {
				t.Errorf("%s:%d: %s has no problem to show", readme, b.from, b.name)
			}
			var out []string
			for _, d := range diags {
				out = append(out, d.Error())
			}
			generated[i] = out
		case "test":
			var out bytes.Buffer
			if !ruletest.RunFiles(context.Background(), &out, rulefile.Options{}, filepath.Join(dir, b.name)) {
				t.Errorf("%s:%d: the unit tests of %s fail:\n%s", readme, b.from, b.name, out.String())
			}
		}
	}

	// rebuild the README with the generated blocks
	var rebuilt []string
	next := 0
	stale := 0
	for i, b := range blocks {
		gen, ok := generated[i]
		if !ok {
			continue
		}
		if strings.Join(gen, "\n") != strings.Join(lines[b.from:b.to], "\n") {
			stale++
			if !golden.Updating() {
				t.Errorf("%s:%d: the %s of %s is not what the code gives; run go test ./rules/rulefile -run Readme -update\nREADME:\n%s\ncode:\n%s",
					readme, b.from, b.kind, b.name, strings.Join(lines[b.from:b.to], "\n"), strings.Join(gen, "\n"))
			}
		}
		rebuilt = append(rebuilt, lines[next:b.from]...)
		rebuilt = append(rebuilt, gen...)
		next = b.to
	}
	rebuilt = append(rebuilt, lines[next:]...)
	if golden.Updating() && stale > 0 {
		if err := os.WriteFile(readme, []byte(strings.Join(rebuilt, "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote %d blocks of %s", stale, readme)
	}
}

// readmeBlocks finds each marker and the fenced block right after it.
func readmeBlocks(t *testing.T, lines []string) []readmeBlock {
	t.Helper()
	var out []readmeBlock
	for i := 0; i < len(lines); i++ {
		m := readmeMarker.FindStringSubmatch(lines[i])
		if m == nil {
			if strings.HasPrefix(lines[i], "<!-- ") && strings.Contains(lines[i], ": ") {
				t.Errorf("%s:%d: not a known marker: %s", readme, i+1, lines[i])
			}
			continue
		}
		if i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], "```") {
			t.Fatalf("%s:%d: %s is not followed by a fenced block", readme, i+1, lines[i])
		}
		end := i + 2
		for end < len(lines) && lines[end] != "```" {
			end++
		}
		if end == len(lines) {
			t.Fatalf("%s:%d: unterminated fenced block", readme, i+2)
		}
		out = append(out, readmeBlock{kind: m[1], name: m[2], from: i + 2, to: end})
		i = end
	}
	if len(out) == 0 {
		t.Fatalf("%s: no examples found", readme)
	}
	return out
}
