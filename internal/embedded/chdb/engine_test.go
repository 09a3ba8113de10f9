package chdb

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// One engine per test process: the library supports one data folder each.
var (
	testOnce   sync.Once
	testEngine *Engine
	testErr    error
)

func engine(t testing.TB) *Engine {
	t.Helper()
	testOnce.Do(func() {
		dir, err := os.MkdirTemp("", "chdb-test-")
		if err != nil {
			testErr = err
			return
		}
		testEngine, testErr = Open(Options{DataDir: dir})
	})
	if testErr != nil {
		t.Fatalf("open engine: %v", testErr)
	}
	return testEngine
}

func TestQuery(t *testing.T) {
	e := engine(t)
	out, err := e.Query("SELECT 40 + 2", "TSV")
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "42\n" {
		t.Fatalf("got %q", out)
	}
}

func TestQueryParams(t *testing.T) {
	e := engine(t)
	out, err := e.Query("SELECT {s:String}, length({s:String})", "TSV", Param{Name: "s", Value: `it''s \' OR 1=1 --`})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(out), "it\\'\\'s \\' OR 1=1 --\t17\n"; got != want {
		t.Fatalf("got %q want %q", got, want)
	}
}

func TestQueryError(t *testing.T) {
	e := engine(t)
	_, err := e.Query("SELEC 1", "TSV")
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("want *Error, got %T %v", err, err)
	}
	if ce.Code != 62 || ce.Name != "SYNTAX_ERROR" {
		t.Fatalf("code %d name %q: %s", ce.Code, ce.Name, ce.Message)
	}
	_, err = e.Query("SELECT * FROM no_such_table", "TSV")
	if !errors.As(err, &ce) || ce.Code != 60 {
		t.Fatalf("want code 60, got %v", err)
	}
}

func TestConcurrentSessions(t *testing.T) {
	e := engine(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 20; j++ {
				out, err := e.Query("SELECT count() FROM numbers(1000)", "TSV")
				if err != nil {
					errs <- err
					return
				}
				if string(out) != "1000\n" {
					errs <- errors.New("bad result " + string(out))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestSecondFolderInProcessRefused(t *testing.T) {
	engine(t)
	_, err := Open(Options{DataDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "one data folder per process") {
		t.Fatalf("want a clear refusal, got %v", err)
	}
}

func TestSecondProcessRefused(t *testing.T) {
	if os.Getenv("CHDB_TEST_CHILD_DIR") != "" {
		_, err := Open(Options{DataDir: os.Getenv("CHDB_TEST_CHILD_DIR")})
		if errors.Is(err, ErrFolderInUse) {
			os.Stdout.WriteString("REFUSED: " + err.Error())
			os.Exit(0)
		}
		os.Stdout.WriteString("UNEXPECTED: " + strings.TrimSpace(errString(err)))
		os.Exit(1)
	}
	e := engine(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestSecondProcessRefused$")
	cmd.Env = append(os.Environ(), "CHDB_TEST_CHILD_DIR="+e.Dir())
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "REFUSED:") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func TestMissingLibrary(t *testing.T) {
	_, err := open("/nonexistent/libchdb.so", LibrarySHA256)
	if err == nil {
		t.Fatal("want error")
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func TestParseError(t *testing.T) {
	tests := []struct {
		msg  string
		code int
		name string
	}{
		{"Code: 62. DB::Exception: Syntax error: failed at position 1 (SELEC): SELEC 1. Expected one of: ... (SYNTAX_ERROR) (version 26.5.1.1)", 62, "SYNTAX_ERROR"},
		{"Code: 60. DB::Exception: Unknown table expression identifier 'x' in scope SELECT * FROM x. (UNKNOWN_TABLE)", 60, "UNKNOWN_TABLE"},
		{"something odd", 0, ""},
	}
	for _, tt := range tests {
		e := parseError(tt.msg)
		if e.Code != tt.code || e.Name != tt.name {
			t.Errorf("%q: got %d %q", tt.msg, e.Code, e.Name)
		}
	}
}

// The engine resets SIGSEGV to SIG_DFL on every connect; the binding must put
// the Go runtime's handler back, or a nil dereference would kill the process
// instead of panicking. Connect from many goroutines at once, then check that
// a nil dereference is still a recoverable panic.
func TestGoSignalHandlersSurviveConcurrentConnects(t *testing.T) {
	e := engine(t)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 10; j++ {
				c, err := e.Session()
				if err != nil {
					t.Error(err)
					return
				}
				c.Close()
			}
		}()
	}
	wg.Wait()
	recovered := func() (r any) {
		defer func() { r = recover() }()
		var p *int
		return *p
	}()
	if recovered == nil {
		t.Fatal("nil dereference did not panic")
	}
}
