package catalog

import (
	"fmt"
	"slices"
	"sort"
)

// Kinds of changes.
const (
	NewService    = "new service"
	ServiceGone   = "service gone"
	NewOperation  = "new operation"
	OperationGone = "operation gone"
	NewCaller     = "new caller"
	CallerGone    = "caller gone"
	NewCall       = "new call"
	CallGone      = "call gone"
	NewTopic      = "new topic"
	TopicGone     = "topic gone"
	NewVersion    = "new version"
	VersionGone   = "version gone"
	NewInstance   = "new instance"
	InstanceGone  = "instance gone"
	NewProtocol   = "new protocol"
	ProtocolGone  = "protocol gone"
)

// Change is one difference between two catalogs, about one service.
type Change struct {
	Service string `json:"service"`
	Kind    string `json:"kind"`
	// What changed: the operation, "caller of operation", the callee
	// ("payments" or "payments (database)"), "topic (produces)", the
	// version, instance or protocol.
	What string `json:"what"`
}

func (c Change) String() string { return c.Service + ": " + c.Kind + " " + c.What }

// Changes lists what changed from before to after, by service. A new or
// gone service is one change, its parts not listed; so is a new or gone
// operation, its callers not listed.
func Changes(before, after Catalog) []Change {
	var out []Change
	old := map[string]Service{}
	for _, s := range before.Services {
		old[s.Name] = s
	}
	now := map[string]bool{}
	for _, s := range after.Services {
		now[s.Name] = true
		b, ok := old[s.Name]
		if !ok {
			out = append(out, Change{s.Name, NewService, s.Kind})
			continue
		}
		add := func(kind, what string) { out = append(out, Change{s.Name, kind, what}) }
		diffSets(b.Versions, s.Versions, NewVersion, VersionGone, add)
		diffSets(b.Instances, s.Instances, NewInstance, InstanceGone, add)
		diffSets(b.Protocols, s.Protocols, NewProtocol, ProtocolGone, add)
		diffSets(topicNames(b.Topics), topicNames(s.Topics), NewTopic, TopicGone, add)
		diffSets(callNames(b.Calls), callNames(s.Calls), NewCall, CallGone, add)
		diffSets(callerNames(b.CalledBy, ""), callerNames(s.CalledBy, ""), NewCaller, CallerGone, add)
		oldOps := map[string]Operation{}
		for _, op := range b.Operations {
			oldOps[op.Kind+" "+op.Name] = op
		}
		var newOps []string
		for _, op := range s.Operations {
			newOps = append(newOps, op.Name)
			if bo, ok := oldOps[op.Kind+" "+op.Name]; ok {
				diffSets(callerNames(bo.Callers, op.Name), callerNames(op.Callers, op.Name), NewCaller, CallerGone, add)
			}
		}
		var oldNames []string
		for _, op := range b.Operations {
			oldNames = append(oldNames, op.Name)
		}
		diffSets(oldNames, newOps, NewOperation, OperationGone, add)
	}
	for _, s := range before.Services {
		if !now[s.Name] {
			out = append(out, Change{s.Name, ServiceGone, s.Kind})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Service != out[j].Service {
			return out[i].Service < out[j].Service
		}
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		return out[i].What < out[j].What
	})
	return out
}

// diffSets reports what is in after and not before, and the reverse.
func diffSets(before, after []string, added, removed string, add func(kind, what string)) {
	for _, a := range after {
		if !slices.Contains(before, a) {
			add(added, a)
		}
	}
	for _, b := range before {
		if !slices.Contains(after, b) {
			add(removed, b)
		}
	}
}

func topicNames(ts []Topic) []string {
	var out []string
	for _, t := range ts {
		if t.Produces {
			out = append(out, t.Name+" (produces)")
		}
		if t.Consumes {
			out = append(out, t.Name+" (consumes)")
		}
	}
	return out
}

func callNames(cs []Call) []string {
	var out []string
	for _, c := range cs {
		name := c.Service
		switch {
		case c.Via != "":
			name += " (via " + c.Via + ")"
		case c.ConnectionType != "":
			name += " (" + c.ConnectionType + ")"
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

// callerNames are callers as changes name them: "checkout of POST /charges".
func callerNames(cs []Caller, op string) []string {
	var out []string
	for _, c := range cs {
		name := c.Service
		if c.Via != "" {
			name += " via " + c.Via
		}
		if op != "" {
			name = fmt.Sprintf("%s of %s", name, op)
		}
		out = append(out, name)
	}
	return out
}
