package ruletest

import (
	"bytes"
	"context"
	"testing"

	"github.com/flowlens/flowlens/rules/rulefile"
)

func TestShorthandsAgainstHandComputedValues(t *testing.T) {
	var out bytes.Buffer
	if !RunFiles(context.Background(), &out, rulefile.Options{}, "testdata/shorthands_test.yml") {
		t.Fatalf("\n%s", out.String())
	}
}
