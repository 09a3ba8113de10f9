package chserver

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	chcompress "github.com/ClickHouse/ch-go/compress"

	"github.com/flowlens/flowlens/internal/bytesize"
	"github.com/flowlens/flowlens/internal/listener"
)

// A 64 KiB gzip body that decodes to 64 MiB is refused once it decodes
// past the limit, not spooled whole (it used to land in /dev/shm).
func TestDecodedBodyLimit(t *testing.T) {
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	zeros := make([]byte, 1<<20)
	for i := 0; i < 64; i++ {
		_, _ = zw.Write(zeros)
	}
	_ = zw.Close()
	s := &Server{cfg: Config{MaxBodyBytes: 1 << 20, MaxBlockBytes: 128 << 20}}
	hr, _ := http.NewRequest("POST", "/", bytes.NewReader(zipped.Bytes()))
	hr.Header.Set("Content-Encoding", "gzip")
	body, err := s.requestBody(hr, &request{})
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, body)
	if code := toHTTPError(readBodyError(err)).code; err == nil || code != 202 {
		t.Fatalf("read %d bytes, err %v (code %d), want QUERY_IS_TOO_LARGE", n, err, code)
	}
	if n > 1<<20 {
		t.Fatalf("read %d bytes past the limit", n)
	}
}

// A compressed block header announcing more than max_block_bytes is
// refused before anything of that size is allocated or read.
func TestBlockHeaderLimit(t *testing.T) {
	var header [blockHeaderSize]byte
	header[blockChecksumSize] = 0x82 // LZ4
	binary.LittleEndian.PutUint32(header[blockChecksumSize+1:], 9+16)
	binary.LittleEndian.PutUint32(header[blockChecksumSize+5:], 1<<30)
	r := newBlockReader(bytes.NewReader(header[:]), 128<<20)
	_, err := io.ReadAll(r)
	if he := blockError(err); he == nil || he.code != 39 {
		t.Fatalf("got %v, want TOO_LARGE_SIZE_COMPRESSED", err)
	}
}

// Real blocks, several in a row, decode to what was compressed.
func TestBlockReaderRoundTrip(t *testing.T) {
	var body bytes.Buffer
	var want []byte
	for i, m := range []chcompress.Method{chcompress.LZ4, chcompress.ZSTD, chcompress.None, chcompress.LZ4, chcompress.LZ4} {
		part := bytes.Repeat([]byte{byte('a' + i)}, 3000+i)
		if i == 3 {
			part = nil // an empty block between two others
		}
		want = append(want, part...)
		w := chcompress.NewWriter(chcompress.LevelZero, m)
		if err := w.Compress(part); err != nil {
			t.Fatal(err)
		}
		body.Write(w.Data)
	}
	got, err := io.ReadAll(newBlockReader(bytes.NewReader(body.Bytes()), 1<<20))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("decoded %d bytes (want %d), err %v", len(got), len(want), err)
	}
	cut := newBlockReader(bytes.NewReader(body.Bytes()[:body.Len()-10]), 1<<20)
	if _, err := io.ReadAll(cut); err == nil {
		t.Fatal("a truncated block decoded without error")
	}
}

// Spooled bytes in RAM never exceed the budget: a body larger than the
// budget, and one arriving while another holds it, go to disk; the
// budget comes back when an insert ends.
func TestSpoolBudget(t *testing.T) {
	mem, disk := t.TempDir(), t.TempDir()
	s, err := newSpooler(mem, disk, 3<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer s.remove()
	small, err := s.spool(bytes.NewReader(make([]byte, 2<<20)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(small.path, s.memDir) || small.size != 2<<20 {
		t.Fatalf("2 MiB went to %s (%d bytes), want RAM", small.path, small.size)
	}
	big, err := s.spool(bytes.NewReader(make([]byte, 5<<20)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(big.path, disk) || big.size != 5<<20 {
		t.Fatalf("5 MiB went to %s (%d bytes), want disk", big.path, big.size)
	}
	if st, err := os.Stat(big.path); err != nil || st.Size() != 5<<20 {
		t.Fatalf("disk file: %v %v", st, err)
	}
	if got := s.inMem.Load(); got != 2<<20 {
		t.Fatalf("RAM in use %d, want only the small insert's", got)
	}
	small.release()
	big.release()
	if got := s.inMem.Load(); got != 0 {
		t.Fatalf("RAM in use after both ended: %d", got)
	}
	for _, d := range []string{s.memDir, disk} {
		if left, _ := filepath.Glob(filepath.Join(d, "*")); len(left) != 0 {
			t.Fatalf("files left in %s: %v", d, left)
		}
	}
	st, err := os.Stat(s.memDir)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("RAM spool folder mode %v (%v), want 0700", st.Mode().Perm(), err)
	}
}

// A request that finds every engine slot taken waits, then gets
// ClickHouse's TOO_MANY_SIMULTANEOUS_QUERIES; it gets the slot when one
// is given back.
func TestConcurrencySlots(t *testing.T) {
	s := &Server{slots: make(chan struct{}, 1), queueWait: 50 * time.Millisecond}
	release, err := s.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.acquire(context.Background()); toHTTPError(err).code != 202 || toHTTPError(err).status != http.StatusServiceUnavailable {
		t.Fatalf("second request: %v, want 202 / 503", err)
	}
	release()
	again, err := s.acquire(context.Background())
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	again()
}

func TestHostAndOrigin(t *testing.T) {
	s := &Server{hostname: "box", cfg: Config{AllowedHosts: []string{"ch.example.org"}, AllowedOrigins: []string{"https://grafana.example.org"}}}
	for host, ok := range map[string]bool{
		"127.0.0.1:8123": true, "[::1]:8123": true, "10.1.2.3": true, "localhost:8123": true, "box:8123": true,
		"ch.example.org:8123": true, "CH.example.org.": true, "attacker.example:8123": false, "127.0.0.1.nip.io": false, "": true,
	} {
		if got := s.hostAllowed(host); got != ok {
			t.Errorf("Host %q allowed = %v, want %v", host, got, ok)
		}
	}
	for _, tt := range []struct {
		origin, host string
		ok           bool
	}{
		{"https://grafana.example.org", "127.0.0.1:8123", true},
		{"http://127.0.0.1:8123", "127.0.0.1:8123", true},
		{"http://evil.example", "127.0.0.1:8123", false},
		{"null", "127.0.0.1:8123", false},
	} {
		if got := s.originAllowed(tt.origin, tt.host); got != tt.ok {
			t.Errorf("Origin %q to %q allowed = %v, want %v", tt.origin, tt.host, got, tt.ok)
		}
	}
}

// On first start each role gets a user with a random password in a file
// only its owner reads; later starts read the same users; a file others
// could read is made private.
func TestCredentialsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), CredentialsFileName)
	first, err := loadOrCreateCredentials(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []Role{RoleReader, RoleWriter, RoleAdmin} {
		name, password, ok := first.Login(r)
		if !ok || name != string(r) || len(password) < 24 {
			t.Fatalf("%s: %q %q %v", r, name, password, ok)
		}
		if role, ok := first.authenticate(name, password); !ok || role != r {
			t.Fatalf("%s cannot log in", r)
		}
		if _, ok := first.authenticate(name, password+"x"); ok {
			t.Fatalf("%s logs in with a wrong password", r)
		}
	}
	if _, ok := first.authenticate("nobody", ""); ok {
		t.Fatal("an unknown user logs in")
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", st.Mode().Perm())
	}
	_ = os.Chmod(path, 0o644)
	again, err := loadOrCreateCredentials(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, p1, _ := first.Login(RoleAdmin); func() string { _, p, _ := again.Login(RoleAdmin); return p }() != p1 {
		t.Fatal("the second start generated new passwords")
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode after reading %v, want 0600", st.Mode().Perm())
	}
	if err := os.WriteFile(path, []byte("users:\n  x: {role: root, password: short}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadCredentials(path); err == nil || !strings.Contains(err.Error(), "users.x") {
		t.Fatalf("a wrong file: %v", err)
	}
}

// The pipeline validates its parts' configs before their constructors
// fill the defaults: unset limits are valid, wrong ones are named.
func TestConfigValidate(t *testing.T) {
	unset := Config{HTTP: listener.Config{Listen: "127.0.0.1:0"}, DataDir: "x"}
	if err := unset.Validate(); err != nil {
		t.Fatalf("unset fields: %v", err)
	}
	for field, mod := range map[string]func(c *Config){
		"limits.reader.max_execution_time": func(c *Config) { c.Limits.Reader.MaxExecutionTime = time.Millisecond },
		"limits.admin.max_memory_usage":    func(c *Config) { c.Limits.Admin.MaxMemoryUsage = 10 },
		"max_block_bytes":                  func(c *Config) { c.MaxBlockBytes = 2 << 30 },
		"spool_memory_bytes":               func(c *Config) { n := bytesize.Size(-2); c.SpoolMemoryBytes = &n },
		"listen":                           func(c *Config) { c.HTTP.Listen = "off" },
		"auth":                             func(c *Config) { c.HTTP.Auth.Token = "t" },
		"allowed_origins":                  func(c *Config) { c.AllowedOrigins = []string{"evil.example"} },
	} {
		c := Config{HTTP: listener.Config{Listen: "127.0.0.1:0"}, DataDir: "x"}
		mod(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: %v", field, err)
		}
	}
}

// A process killed with inserts spooled leaves its RAM folder behind; the
// next endpoint to start removes it, and leaves live processes' alone.
func TestStaleSpoolFoldersRemoved(t *testing.T) {
	root := t.TempDir()
	// A pid that cannot be running: above the kernel's pid_max.
	dead := filepath.Join(root, "flowlens-spool-99999999-123")
	alive := filepath.Join(root, fmt.Sprintf("flowlens-spool-%d-456", os.Getppid()))
	for _, d := range []string{dead, alive} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "insert-1.bin"), []byte("rows"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s, err := newSpooler(root, t.TempDir(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer s.remove()
	if _, err := os.Stat(dead); err == nil {
		t.Error("the dead process's spool folder is still there")
	}
	if _, err := os.Stat(alive); err != nil {
		t.Errorf("a live process's spool folder was removed: %v", err)
	}
}

// A pooled reader serves the next body exactly, also after a body that was
// abandoned in the middle of a block: what its decoder held is not served
// again.
func TestBlockReadersReuse(t *testing.T) {
	body := func(c byte, n int) ([]byte, []byte) {
		part := bytes.Repeat([]byte{c}, n)
		w := chcompress.NewWriter(chcompress.LevelZero, chcompress.LZ4)
		if err := w.Compress(part); err != nil {
			t.Fatal(err)
		}
		return append([]byte(nil), w.Data...), part
	}
	var p blockReaders
	for i, readFirst := range []int{-1, 10} { // whole body; abandoned after 10 bytes
		first, _ := body('a', 5000)
		r := p.get(bytes.NewReader(first), 1<<20)
		if readFirst < 0 {
			if _, err := io.ReadAll(r); err != nil {
				t.Fatal(err)
			}
		} else if _, err := io.ReadFull(r, make([]byte, readFirst)); err != nil {
			t.Fatal(err)
		}
		p.put(r)
		second, want := body(byte('b'+i), 3000)
		got, err := io.ReadAll(p.get(bytes.NewReader(second), 1<<20))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("case %d: the next body decoded to %d bytes starting %q, want %d of %q (err %v)", i, len(got), got[:min(3, len(got))], len(want), want[:1], err)
		}
	}
}
