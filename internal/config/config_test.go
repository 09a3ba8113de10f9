package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type inner struct {
	Port int `yaml:"port"`
}

func (i inner) Validate() error {
	if i.Port <= 0 || i.Port > 65535 {
		return Errorf("port", "must be 1..65535, got %d", i.Port)
	}
	return nil
}

type sample struct {
	Name  string `yaml:"name"`
	Inner inner  `yaml:"inner"`
}

func (s *sample) SetDefaults() { s.Name = "default"; s.Inner.Port = 8080 }
func (s *sample) Validate() error {
	var errs []error
	if s.Name == "" {
		errs = append(errs, Errorf("name", "must not be empty"))
	}
	errs = append(errs, Nest("inner", s.Inner.Validate()))
	return errors.Join(errs...)
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr string
		want    sample
	}{
		{name: "empty keeps defaults", yaml: "", want: sample{Name: "default", Inner: inner{Port: 8080}}},
		{name: "override", yaml: "inner:\n  port: 9000\n", want: sample{Name: "default", Inner: inner{Port: 9000}}},
		{name: "unknown field", yaml: "inner:\n  prot: 9000\n", wantErr: "inner.prot: unknown key (line 2)"},
		{name: "invalid nested", yaml: "inner:\n  port: 70000\n", wantErr: "inner.port: must be 1..65535"},
		{name: "two errors", yaml: "name: ''\ninner:\n  port: 0\n", wantErr: "name: must not be empty\ninner.port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "c.yaml")
			if err := os.WriteFile(p, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			var got sample
			err := Load(p, &got)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

type listed struct {
	Kafka struct {
		Brokers     []string `yaml:"brokers"`
		Compression string   `yaml:"compression"`
		Retries     int      `yaml:"retries"`
	} `yaml:"kafka"`
	Files []struct {
		Name  string `yaml:"name"`
		Parse struct {
			Format string `yaml:"format"`
		} `yaml:"parse"`
	} `yaml:"files"`
	Ports []int `yaml:"ports"`
}

// A wrong key or value is named by its YAML path, the way a user finds it in
// the file, never by the Go type behind it.
func TestDecodeErrorsNameTheYAMLPath(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown key", "kafka:\n  brokers: [a:1]\n  compresion: lz4\n", []string{"kafka.compresion: unknown key (line 3)"}},
		{"unknown key in a list item", "files:\n  - name: a\n  - name: b\n    parse: {formt: json}\n", []string{"files[1].parse.formt: unknown key (line 4)"}},
		{"unknown top-level key", "kafak: {}\n", []string{"kafak: unknown key (line 1)"}},
		{"wrong type", "kafka:\n  retries: many\n", []string{"kafka.retries: cannot unmarshal !!str `many` into int (line 2)"}},
		{"wrong type in a list", "ports: [1, two, 3]\n", []string{"ports[1]: cannot unmarshal !!str `two` into int (line 1)"}},
		{"two problems", "kafka:\n  compresion: lz4\nfiles:\n  - nme: a\n", []string{"kafka.compresion: unknown key (line 2)", "files[0].nme: unknown key (line 4)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got listed
			err := Decode([]byte(tt.yaml), &got)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "type config.") || strings.Contains(err.Error(), "not found in type") {
				t.Errorf("error names the Go type: %q", err)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Errorf("not a *FieldError: %T", err)
			}
		})
	}
}

type renamedInner struct {
	Listen string `yaml:"listen"`
}

func (renamedInner) RenamedKeys() map[string]string {
	return map[string]string{"http_addr": "listen", "enabled": "listen: off"}
}

type renamedRoot struct {
	Parts []struct {
		Inner renamedInner `yaml:"inner"`
	} `yaml:"parts"`
	Inline struct {
		renamedInner `yaml:",inline"`
	} `yaml:"inline"`
}

// A key that was renamed is named with what replaces it.
func TestRenamedKeysNameTheNewKey(t *testing.T) {
	var cfg renamedRoot
	err := Decode([]byte("parts:\n  - inner: {http_addr: x}\ninline:\n  enabled: false\n"), &cfg)
	for _, want := range []string{
		"parts[0].inner.http_addr: unknown key (line 2); it is parts[0].inner.listen now",
		"inline.enabled: unknown key (line 4); it is inline.listen: off now",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
}

func TestBackoff(t *testing.T) {
	b := Backoff{}
	b.SetDefaults(100*time.Millisecond, 250*time.Millisecond)
	var waits []time.Duration
	for w := time.Duration(0); len(waits) < 4; {
		w = b.Next(w)
		waits = append(waits, w)
	}
	if fmt.Sprint(waits) != "[100ms 200ms 250ms 250ms]" {
		t.Errorf("waits %v", waits)
	}
	if err := (Backoff{Initial: time.Second, Max: time.Millisecond}).Validate(); err == nil || !strings.Contains(err.Error(), "max: 1ms is less than initial (1s)") {
		t.Errorf("Validate = %v", err)
	}
}
