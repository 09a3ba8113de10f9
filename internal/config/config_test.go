package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
		{name: "unknown field", yaml: "inner:\n  prot: 9000\n", wantErr: "field prot not found"},
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
