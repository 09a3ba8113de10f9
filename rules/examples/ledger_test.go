package examples

import (
	"bytes"
	"context"
	"testing"

	"github.com/flowlens/flowlens/rules/rulefile"
	"github.com/flowlens/flowlens/rules/ruletest"
)

// The ledger's example alerts fire on missing records per host, and when
// no collector reconciles the ledger any more.
func TestLedgerAlerts(t *testing.T) {
	var out bytes.Buffer
	if !ruletest.RunFiles(context.Background(), &out, rulefile.Options{}, "testdata/ledger_test.yml") {
		t.Fatalf("\n%s", out.String())
	}
}
