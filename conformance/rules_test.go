package conformance_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/flowlens/flowlens/loadtest/flowsim"
	"github.com/flowlens/flowlens/loadtest/topology"
	"github.com/flowlens/flowlens/rules/ruletest"
)

// The conformance shorthand over the flow analyzer's live counters alerts
// for exactly the services that break the policy: orders, whose lines lack
// the trace ID, and front, which calls a peer that records nothing; never
// for a service that follows it.
func TestRulesFireForTheServicesBelowTarget(t *testing.T) {
	top, err := topology.Load("testdata/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sys, err := flowsim.New(flowsim.Options{Topology: top, Rate: 5, Seed: 4, Start: ruletest.Epoch, Logs: true})
	if err != nil {
		t.Fatal(err)
	}
	sim, err := ruletest.NewSimulation(ruletest.SimConfig{RuleFiles: []string{"testdata/policy-rules.yml"}, EvalInterval: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	ctx := context.Background()
	firing := map[string]bool{}
	run := func(at time.Duration) error { return sys.RunUntil(ctx, ruletest.Epoch.Add(at)) }
	if err := sim.Play(ctx, 20*time.Minute, 15*time.Second, sys.Registry(), run, func(time.Duration) {
		for _, a := range sim.Alerts() {
			firing[a.Name+" "+a.Labels.Get("service")+" "+a.State] = true
		}
	}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for k := range firing {
		got = append(got, k)
	}
	slices.Sort(got)
	want := []string{"CallsRecorded front firing", "CallsRecorded front pending", "TracedLogs orders firing", "TracedLogs orders pending"}
	if !slices.Equal(got, want) {
		t.Errorf("alerts over 20 minutes: %v, want %v", got, want)
	}
}
