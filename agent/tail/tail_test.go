package tail

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// sink collects records of all files; Flush commits the last checkpoint, as
// the agent does once a batch is safe.
type sink struct {
	mu      sync.Mutex
	lines   []string
	cut     map[string]int
	batches int // flushes that handed over lines
}

type sinkHandler struct {
	s       *sink
	last    Checkpoint
	has     bool
	pending bool // lines since the last Flush
}

func (h *sinkHandler) Line(_ context.Context, line []byte, origLen int, cp Checkpoint) error {
	h.s.mu.Lock()
	h.s.lines = append(h.s.lines, string(line))
	if origLen > len(line) {
		if h.s.cut == nil {
			h.s.cut = map[string]int{}
		}
		h.s.cut[string(line[:10])] = origLen
	}
	h.s.mu.Unlock()
	h.last, h.has, h.pending = cp, true, true
	return nil
}

func (h *sinkHandler) Flush(context.Context, bool) error {
	if h.pending {
		h.s.mu.Lock()
		h.s.batches++
		h.s.mu.Unlock()
		h.pending = false
	}
	if h.has {
		h.last.Commit()
	}
	return nil
}
func (h *sinkHandler) Close() {}

func (s *sink) factory(File) Handler { return &sinkHandler{s: s} }

func (s *sink) snapshot() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...)
}

func (s *sink) waitCount(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if got := s.snapshot(); len(got) >= n {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
	got := s.snapshot()
	t.Fatalf("got %d records, want %d", len(got), n)
	return nil
}

// checkEachLineOnce fails t unless the sink holds lines 0 to n-1 (as
// appendLines writes them) each exactly once. Only the number counts: the
// rest of a line may differ per file.
func (s *sink) checkEachLineOnce(t *testing.T, n int) {
	t.Helper()
	got := s.snapshot()
	seen := map[string]int{}
	for _, l := range got {
		seen[l[:11]]++
	}
	for i := 0; i < n; i++ {
		if c := seen[fmt.Sprintf("line %06d", i)]; c != 1 {
			t.Fatalf("line %d seen %d times (total %d, want %d)", i, c, len(got), n)
		}
	}
}

type running struct {
	t      *Tailer
	cancel context.CancelFunc
	done   chan struct{}
}

// waitScans waits until n more pattern scans have completed.
func (r *running) waitScans(t *testing.T, n int64) {
	t.Helper()
	want := r.t.Stats().Scans + n
	deadline := time.Now().Add(15 * time.Second)
	for r.t.Stats().Scans < want {
		if time.Now().After(deadline) {
			t.Fatalf("%d scans, want %d", r.t.Stats().Scans, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// settle gives a misbehaving tailer every chance to read something twice,
// then stops it: two more scans complete (one may have begun before the
// lines were read; a scan is what would open a file a second time), and
// stopping waits for every reader to hand over what it read.
func (r *running) settle(t *testing.T) {
	t.Helper()
	r.waitScans(t, 2)
	r.stop(t)
}

func (r *running) stop(tb testing.TB) {
	r.cancel()
	<-r.done
	if err := r.t.Close(); err != nil {
		tb.Fatal(err)
	}
}

func start(t *testing.T, cfg Config, ckpt string, s *sink) *running {
	t.Helper()
	return startLogged(t, cfg, ckpt, s, zap.NewNop())
}

func startLogged(t *testing.T, cfg Config, ckpt string, s *sink, log *zap.Logger) *running {
	t.Helper()
	cfg.ScanInterval = 50 * time.Millisecond
	cfg.PollInterval = 10 * time.Millisecond
	return startAsIs(t, cfg, ckpt, s, log)
}

// startAsIs runs a Tailer on cfg's own intervals.
func startAsIs(t *testing.T, cfg Config, ckpt string, s *sink, log *zap.Logger) *running {
	t.Helper()
	if cfg.RotateWait == 0 {
		cfg.RotateWait = 200 * time.Millisecond
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	tl, err := New(cfg, ckpt, s.factory, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{t: tl, cancel: cancel, done: make(chan struct{})}
	go func() { tl.Run(ctx); close(r.done) }()
	t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			r.stop(t)
		}
	})
	return r
}

func appendLines(t testing.TB, path string, from, to int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "line %06d of %s\n", i, filepath.Base(path))
	}
	if _, err := f.WriteString(b.String()); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// checkExact: every line i in [0,n) exactly once.
func checkExact(t *testing.T, got []string, n int, name string) {
	t.Helper()
	count := map[string]int{}
	for _, l := range got {
		count[l]++
	}
	missing, dup := 0, 0
	for i := 0; i < n; i++ {
		k := fmt.Sprintf("line %06d of %s", i, name)
		switch count[k] {
		case 0:
			missing++
		case 1:
		default:
			dup++
		}
	}
	if missing > 0 || dup > 0 || len(got) != n {
		t.Fatalf("%d records: %d missing, %d duplicated (want exactly %d)", len(got), missing, dup, n)
	}
}

func TestFollowAndResumeFromCheckpoint(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	ckpt := filepath.Join(dir, "data", "ckpt.json")
	appendLines(t, log, 0, 1000)
	s := &sink{}
	r := start(t, Config{Include: []string{filepath.Join(dir, "*.log")}}, ckpt, s)
	s.waitCount(t, 1000)
	appendLines(t, log, 1000, 1500)
	s.waitCount(t, 1500)
	r.stop(t)
	appendLines(t, log, 1500, 2000) // written while the agent is stopped
	r = start(t, Config{Include: []string{filepath.Join(dir, "*.log")}}, ckpt, s)
	s.waitCount(t, 2000)
	r.settle(t)
	checkExact(t, s.snapshot(), 2000, "app.log")
}

func TestStartAtEnd(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	appendLines(t, log, 0, 100)
	s := &sink{}
	r := start(t, Config{Include: []string{filepath.Join(dir, "*.log")}, StartAt: StartEnd}, filepath.Join(dir, "c.json"), s)
	r.waitScans(t, 1) // the first scan found the file: lines from now on are new
	appendLines(t, log, 100, 150)
	got := s.waitCount(t, 50)
	if len(got) != 50 || got[0] != "line 000100 of app.log" {
		t.Fatalf("start_at end read %d records starting %q", len(got), got[0])
	}
	// a file created later is read from its beginning
	appendLines(t, filepath.Join(dir, "new.log"), 0, 10)
	s.waitCount(t, 60)
}

func TestRenameAndCreateRotation(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	s := &sink{}
	r := start(t, Config{Include: []string{log}}, filepath.Join(dir, "c.json"), s)
	// the writer keeps writing; rotation renames the file and creates a new one
	const per, rotations = 2000, 5
	n := 0
	for k := 0; k < rotations; k++ {
		first := n
		for range 10 {
			appendLines(t, log, n, n+per/10)
			n += per / 10
		}
		// the agent must have opened the file before it is renamed away
		// (its name is not followed any more afterwards)
		s.waitCount(t, first+1)
		if err := os.Rename(log, fmt.Sprintf("%s.%d", log, k)); err != nil {
			t.Fatal(err)
		}
		// lines written to the old file after the rename (the writer still
		// has it open) must be read too
		appendLines(t, fmt.Sprintf("%s.%d", log, k), n, n+7)
		n += 7
	}
	appendLines(t, log, n, n+100)
	n += 100
	s.waitCount(t, n)
	r.settle(t)
	s.checkEachLineOnce(t, n)
}

func TestCopyTruncateRotation(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	s := &sink{}
	r := start(t, Config{Include: []string{filepath.Join(dir, "app.log*")}}, filepath.Join(dir, "c.json"), s)
	n := 0
	for k := 0; k < 4; k++ {
		appendLines(t, log, n, n+1000)
		n += 1000
		// The copy is made after the agent read part of this round's lines
		// (even rounds) or possibly before it read any (odd rounds): each
		// copy holds lines read and lines not yet read.
		if k%2 == 0 {
			s.waitCount(t, n-500)
		}
		data, err := os.ReadFile(log)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(fmt.Sprintf("%s.%d", log, k), data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(log, 0); err != nil {
			t.Fatal(err)
		}
	}
	appendLines(t, log, n, n+10)
	n += 10
	// a compressed rotation matches app.log* but is excluded by default
	os.WriteFile(log+".9.gz", []byte("\x1f\x8b binary\n"), 0o644)
	s.waitCount(t, n)
	r.settle(t)
	s.checkEachLineOnce(t, n)
}

func TestTruncateInPlace(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	s := &sink{}
	r := start(t, Config{Include: []string{log}}, filepath.Join(dir, "c.json"), s)
	appendLines(t, log, 0, 500)
	s.waitCount(t, 500)
	if err := os.Truncate(log, 0); err != nil {
		t.Fatal(err)
	}
	// the reader may or may not look between the truncation and the
	// refill (TestTruncateAndRefillBetweenReads fixes the order)
	appendLines(t, log, 500, 1200) // longer than before: size alone would not show it
	s.waitCount(t, 1200)
	r.settle(t)
	checkExact(t, s.snapshot(), 1200, "app.log")
}

// steppedReader is a reader of one file driven by the test, one read turn
// or file check at a time, so that writes land exactly between two reads.
type steppedReader struct {
	rd   *reader
	last time.Time
}

func newSteppedReader(t *testing.T, path string, s *sink) *steppedReader {
	t.Helper()
	cfg := Config{Include: []string{path}}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	tl, err := New(cfg, filepath.Join(t.TempDir(), "c.json"), s.factory, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	rd := tl.newReader(path, tl.resolvedIncludes(), make([]byte, cfg.FingerprintSize), true, time.Now())
	if rd == nil {
		t.Fatalf("%s not opened", path)
	}
	t.Cleanup(func() {
		rd.h.Close()
		rd.f.Close()
		tl.readerDone(rd)
		tl.Close()
	})
	return &steppedReader{rd: rd}
}

// readToEnd is what the reader does when it polls: read what is new, then
// look for truncation and rotation.
func (sr *steppedReader) readToEnd(t *testing.T) {
	t.Helper()
	for more := true; more; {
		var err error
		if more, err = sr.rd.readTurn(context.Background(), &sr.last); err != nil {
			t.Fatal(err)
		}
	}
	sr.rd.checkFile(sr.last)
}

// A file truncated and written again past the reader's offset between two
// of its reads: the new content is read once, from its start, not from the
// old offset and then again from the start.
func TestTruncateAndRefillBetweenReads(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	appendLines(t, log, 0, 500)
	s := &sink{}
	sr := newSteppedReader(t, log, s)
	sr.readToEnd(t)
	if err := os.Truncate(log, 0); err != nil {
		t.Fatal(err)
	}
	appendLines(t, log, 500, 1200) // longer than before: size alone would not show it
	sr.readToEnd(t)
	sr.readToEnd(t)
	checkExact(t, s.snapshot(), 1200, "app.log")
	if st := sr.rd.t.Stats(); st.Truncations != 1 {
		t.Errorf("%d truncations counted, want 1", st.Truncations)
	}
}

func TestManyFilesAndDeletion(t *testing.T) {
	dir := t.TempDir()
	s := &sink{}
	start(t, Config{Include: []string{filepath.Join(dir, "*.log")}}, filepath.Join(dir, "c.json"), s)
	const files, per = 200, 50
	for i := 0; i < files; i++ {
		appendLines(t, filepath.Join(dir, fmt.Sprintf("f%03d.log", i)), 0, per)
	}
	s.waitCount(t, files*per)
	// a deleted file whose last line has no newline: read to the end anyway
	p := filepath.Join(dir, "f000.log")
	f, _ := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString("last words")
	f.Close()
	os.Remove(p) // its reader still has it open
	got := s.waitCount(t, files*per+1)
	if len(got) != files*per+1 || got[len(got)-1] != "last words" {
		t.Fatalf("%d records, last %q", len(got), got[len(got)-1])
	}
}

func TestLineEdgeCases(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	big := strings.Repeat("x", 10<<20)
	content := "crlf line\r\n" + "\n" + "   \t \n" + "nul\x00byte\n" + "bad\xff\xfeutf8\n" + "0123456789" + big + "\n" + "after big\n"
	if err := os.WriteFile(log, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &sink{}
	start(t, Config{Include: []string{log}, MaxLineSize: 64 << 10}, filepath.Join(dir, "c.json"), s)
	got := s.waitCount(t, 6)
	want := []string{"crlf line", "   \t ", "nul\x00byte", "bad\xff\xfeutf8", "", "after big"}
	if len(got) != len(want) {
		t.Fatalf("got %d records: %q", len(got), got)
	}
	for i, w := range want {
		if i == 4 {
			if len(got[i]) != 64<<10 || s.cut["0123456789"] != 10+len(big) {
				t.Fatalf("long line: %d bytes kept, original %d", len(got[i]), s.cut["0123456789"])
			}
			continue
		}
		if got[i] != w {
			t.Errorf("record %d = %q want %q", i, got[i], w)
		}
	}
}

func TestMultiline(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	s := &sink{}
	start(t, Config{Include: []string{log}, Multiline: Multiline{StartPattern: `^\d{4}-`, FlushTimeout: 100 * time.Millisecond}},
		filepath.Join(dir, "c.json"), s)
	os.WriteFile(log, []byte("2024-01-01 first\n  at a\n  at b\n2024-01-01 second\n2024-01-01 third\nCaused by: x\n"), 0o644)
	got := s.waitCount(t, 3)
	want := []string{"2024-01-01 first\n  at a\n  at b", "2024-01-01 second", "2024-01-01 third\nCaused by: x"}
	if len(got) != 3 {
		t.Fatalf("%q", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("record %d = %q want %q", i, got[i], want[i])
		}
	}
}

func TestConfigErrorsNameField(t *testing.T) {
	for _, tc := range []struct {
		cfg   Config
		field string
	}{
		{Config{}, "include"},
		{Config{Include: []string{"rel/*.log"}}, "include[0]"},
		{Config{Include: []string{"/a/[.log"}}, "include[0]"},
		{Config{Include: []string{"/a"}, StartAt: "middle"}, "start_at"},
		{Config{Include: []string{"/a"}, Multiline: Multiline{StartPattern: "("}}, "multiline.start_pattern"},
		{Config{Include: []string{"/a"}, MaxLineSize: 10}, "max_line_size"},
	} {
		tc.cfg.SetDefaults()
		err := tc.cfg.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), tc.field+":") {
			t.Errorf("error %v, want field %s", err, tc.field)
		}
	}
}

func TestDamagedCheckpointsStartOver(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	ckpt := filepath.Join(dir, "c.json")
	appendLines(t, log, 0, 10)
	os.WriteFile(ckpt, []byte(`[{"fp_len":10,"fp_h`), 0o644) // a torn write
	s := &sink{}
	start(t, Config{Include: []string{log}}, ckpt, s)
	s.waitCount(t, 10)
	if _, err := os.Stat(ckpt + ".damaged"); err != nil {
		t.Fatalf("damaged checkpoints not moved aside: %v", err)
	}
}

// A path that matches no file (the default config's /var/log/messages on a
// host that only has /var/log/syslog) is named in one warning, not
// followed in silence; it is still read once it appears.
func TestWarnsOnceAboutPatternsMatchingNothing(t *testing.T) {
	dir := t.TempDir()
	present, missing, later := filepath.Join(dir, "present.log"), filepath.Join(dir, "missing.log"), filepath.Join(dir, "later", "*.log")
	appendLines(t, present, 0, 1)
	core, logs := observer.New(zap.WarnLevel)
	s := &sink{}
	startLogged(t, Config{Include: []string{present, missing, later}}, filepath.Join(dir, "ckpt.json"), s, zap.New(core))
	s.waitCount(t, 1)
	// a file that appears later is read, so scans went on after the warning
	os.MkdirAll(filepath.Dir(later), 0o755)
	appendLines(t, filepath.Join(dir, "later", "x.log"), 0, 1)
	s.waitCount(t, 2)

	warns := logs.FilterMessageSnippet("no file matches").All()
	if len(warns) != 1 {
		t.Fatalf("%d warnings, want 1: %v", len(warns), logs.All())
	}
	got := fmt.Sprint(warns[0].ContextMap()["include"])
	if !strings.Contains(got, missing) || !strings.Contains(got, later) || strings.Contains(got, present) {
		t.Errorf("the warning names %s; want %s and %s, not %s", got, missing, later, present)
	}
}

// A link in a followed folder that leads out of the include patterns (to a
// secret, through a file link or a folder link matched by a wildcard) is
// not read; links that stay inside them are, and so are files reached
// through a link in the pattern's own fixed folders.
func TestLinksOutOfTheIncludePatternsAreNotFollowed(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(t.TempDir(), "secrets")
	os.MkdirAll(secret, 0o755)
	appendLines(t, filepath.Join(secret, "shadow.log"), 0, 5)
	logs := filepath.Join(dir, "logs")
	os.MkdirAll(filepath.Join(logs, "app"), 0o755)
	appendLines(t, filepath.Join(logs, "app", "real.log"), 0, 3)
	for link, target := range map[string]string{
		filepath.Join(logs, "app", "evil.log"):    filepath.Join(secret, "shadow.log"),    // a file link out
		filepath.Join(logs, "evil"):               secret,                                 // a folder link matched by */
		filepath.Join(logs, "app", "current.log"): filepath.Join(logs, "app", "real.log"), // a link that stays inside
	} {
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
	}
	// the fixed folders of a pattern may be a link: /var/log -> /srv/log
	viaLink := filepath.Join(dir, "var-log")
	if err := os.Symlink(logs, viaLink); err != nil {
		t.Fatal(err)
	}
	s := &sink{}
	r := start(t, Config{Include: []string{filepath.Join(viaLink, "*", "*.log")}}, filepath.Join(dir, "c.json"), s)
	s.waitCount(t, 3)
	r.settle(t)
	checkExact(t, s.snapshot(), 3, "real.log")
	if st := r.t.Stats(); st.LinksRefused != 2 {
		t.Errorf("%d links refused, want 2 (evil.log and evil/)", st.LinksRefused)
	}
}

// Lines read at a high rate commit a checkpoint at every read, but the
// file is rewritten at most every checkpointEvery (rewriting it each time
// took 8% of the agent's CPU at 50k lines/s); a stop still writes the last
// one, so the next start reads nothing twice.
func TestCheckpointsWrittenAtMostEveryInterval(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	ckpt := filepath.Join(dir, "c.json")
	s := &sink{}
	r := start(t, Config{Include: []string{log}}, ckpt, s)
	began := time.Now()
	n := 0
	for time.Since(began) < 3*checkpointEvery {
		appendLines(t, log, n, n+10)
		n += 10
		s.waitCount(t, n)
	}
	r.t.reg.mu.Lock()
	writes := r.t.reg.writes
	r.t.reg.mu.Unlock()
	if most := int(time.Since(began)/checkpointEvery) + 2; writes > most {
		t.Errorf("%d reads wrote the checkpoints %d times in %v; want at most %d", n/10, writes, time.Since(began).Round(time.Millisecond), most)
	}
	r.stop(t)

	again := &sink{}
	start(t, Config{Include: []string{log}}, ckpt, again)
	appendLines(t, log, n, n+10)
	got := again.waitCount(t, 10)
	if len(got) != 10 || got[0] != fmt.Sprintf("line %06d of app.log", n) {
		t.Errorf("after a stop the next start read %d lines from %q; want the 10 new ones", len(got), got[0])
	}
}

// An application writing one line at a time wakes the reader at every
// write; the reader reads such a file at most every min_read_interval, so
// its lines go in batches (each batch is a buffer record and a Kafka
// message with its own headers), and still reads every line once.
func TestFileWrittenLineByLineIsReadInBatches(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	appendLines(t, log, 0, 1)
	s := &sink{}
	// the defaults: change notification, polling only as the safety net
	startAsIs(t, Config{Include: []string{log}}, filepath.Join(dir, "c.json"), s, zap.NewNop())
	s.waitCount(t, 1)
	var cfg Config
	cfg.SetDefaults()
	began := time.Now()
	n := 1
	for time.Since(began) < 15*cfg.MinReadInterval {
		appendLines(t, log, n, n+1)
		n++
		time.Sleep(time.Millisecond) // the application's pace
	}
	checkExact(t, s.waitCount(t, n), n, "app.log")
	s.mu.Lock()
	batches := s.batches
	s.mu.Unlock()
	if most := int(time.Since(began)/cfg.MinReadInterval) + 2; batches > most {
		t.Errorf("%d lines written one at a time over %v were read in %d batches; want at most %d", n, time.Since(began).Round(time.Millisecond), batches, most)
	}
}
