// Package catalog says what each service is, as observed in a window of
// its traffic: the operations it serves (with their callers and rates),
// what it calls, the topics it produces to and consumes from, the
// protocols it speaks (from the semantic conventions), its instances and
// versions, and when it was first and last seen; and what changed between
// two windows. The macro-architecture's "ask a service what it does",
// answered from what it actually does. `flowlens services`, the console
// and the API answer from it (through package query).
package catalog

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/flowlens/flowlens/conformance/policy"
	"github.com/flowlens/flowlens/internal/flowmodel"
	"github.com/flowlens/flowlens/storage"
)

// Kinds of nodes.
const (
	KindService  = "service"  // records spans of its own
	KindDatabase = "database" // called as a database, records nothing
	KindExternal = "external" // called, records nothing (an uninstrumented peer)
)

// Operation kinds.
const (
	OpServer   = "server"   // serves calls (server spans)
	OpConsumer = "consumer" // consumes messages (consumer spans)
)

// User is the caller of requests from outside: server spans with no
// parent, as the flow graph names it.
const User = "user"

// Unrecorded names a caller whose client span was not recorded.
const Unrecorded = "unknown"

// DefaultSeenLookback is how far back first and last seen are looked for
// in the rollups, unless the request says otherwise.
const DefaultSeenLookback = 30 * 24 * time.Hour

// Request asks for the catalog of [From, To).
type Request struct {
	From, To time.Time
	// Service keeps one service's entry ("" every one).
	Service string
	// SeenSince is where first seen is looked for (default
	// To - DefaultSeenLookback).
	SeenSince time.Time
}

// Catalog is every service of a window.
type Catalog struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// RateSeconds is the time rates are over: from the window's first
	// span to its last (the window's length when it has none).
	RateSeconds float64   `json:"rate_seconds"`
	Services    []Service `json:"services"`
}

// Service is what one service is, as observed.
type Service struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	// FirstSeen and LastSeen are its first and last call in the rollups
	// since the request's SeenSince.
	FirstSeen *time.Time `json:"first_seen,omitempty"`
	LastSeen  *time.Time `json:"last_seen,omitempty"`
	Instances []string   `json:"instances,omitempty"`
	Versions  []string   `json:"versions,omitempty"`
	// Protocols it serves or uses: http, grpc (rpc.system), kafka
	// (messaging.system), postgresql (db.system), ...; sorted.
	Protocols  []string    `json:"protocols,omitempty"`
	Operations []Operation `json:"operations,omitempty"`
	Calls      []Call      `json:"calls,omitempty"`
	Topics     []Topic     `json:"topics,omitempty"`
	// CalledBy are the callers of a node that records nothing itself
	// (a database, an external peer).
	CalledBy []Caller `json:"called_by,omitempty"`
}

// Operation is one operation a service serves.
type Operation struct {
	Name     string   `json:"name"`
	Kind     string   `json:"kind"` // OpServer or OpConsumer
	Protocol string   `json:"protocol,omitempty"`
	Calls    uint64   `json:"calls"`
	Rate     float64  `json:"rate"` // per second over RateSeconds
	Errors   uint64   `json:"errors"`
	Callers  []Caller `json:"callers"`
}

// Caller is one caller of an operation or node.
type Caller struct {
	Service string  `json:"service"` // User, Unrecorded, or a service
	Calls   uint64  `json:"calls"`
	Rate    float64 `json:"rate"`
	// Via is the topic a consumer's messages come through.
	Via string `json:"via,omitempty"`
}

// Call is what a service calls: a node of the flow graph over one
// connection type.
type Call struct {
	Service        string  `json:"service"`
	ConnectionType string  `json:"connection_type"`
	Calls          uint64  `json:"calls"`
	Rate           float64 `json:"rate"`
	Failed         uint64  `json:"failed"`
	// Operations are the callee's operations it calls (or the names of
	// its client spans, for a callee that records nothing).
	Operations []string `json:"operations,omitempty"`
	Protocol   string   `json:"protocol,omitempty"`
	// Via is the topic the messages go through.
	Via string `json:"via,omitempty"`
}

// Topic is a messaging destination a service produces to or consumes from.
type Topic struct {
	Name     string `json:"name"`
	System   string `json:"system,omitempty"`
	Produces bool   `json:"produces"`
	Consumes bool   `json:"consumes"`
}

// Observed is what the catalog is built from: one window's spans (their
// operations, resources, topics and callers) and edges, and the edges of
// a longer lookback for first and last seen.
type Observed struct {
	Operations []storage.SpanOperation
	Resources  []storage.ServiceResource
	Topics     []storage.ServiceTopic
	Callers    []storage.OperationCaller
	Edges      []flowmodel.EdgeAggregate
	Seen       []flowmodel.EdgeAggregate
}

// Read reads what the request's window shows, in parallel, and builds
// the catalog.
func Read(ctx context.Context, st *storage.Store, req Request) (Catalog, error) {
	if !req.To.After(req.From) {
		return Catalog{}, fmt.Errorf("catalog: %w: empty time range %s - %s", storage.ErrInvalidQuery, req.From, req.To)
	}
	if req.SeenSince.IsZero() || !req.SeenSince.Before(req.To) {
		req.SeenSince = req.To.Add(-DefaultSeenLookback)
	}
	var o Observed
	g, gctx := errgroup.WithContext(ctx)
	// every service's resources, to know which nodes record spans; the
	// operations and callers of the service asked for
	g.Go(func() (err error) {
		o.Operations, err = st.SpanOperations(gctx, req.From, req.To, req.Service)
		return err
	})
	g.Go(func() (err error) {
		o.Resources, err = st.ServiceResources(gctx, req.From, req.To, "", policy.InstanceKeys)
		return err
	})
	g.Go(func() (err error) { o.Topics, err = st.ServiceTopics(gctx, "", req.From, req.To); return err })
	g.Go(func() (err error) {
		o.Callers, err = st.OperationCallers(gctx, req.From, req.To, req.Service)
		return err
	})
	g.Go(func() (err error) { o.Edges, err = st.QueryEdges(gctx, req.From, req.To, ""); return err })
	g.Go(func() (err error) { o.Seen, err = st.QueryEdges(gctx, req.SeenSince, req.To, ""); return err })
	if err := g.Wait(); err != nil {
		return Catalog{}, fmt.Errorf("catalog: %w", err)
	}
	if req.Service != "" && !slices.ContainsFunc(o.Resources, func(r storage.ServiceResource) bool { return r.Service == req.Service }) {
		// a node that records nothing: its protocols are its callers'
		// spans'
		var err error
		if o.Operations, err = st.SpanOperations(ctx, req.From, req.To, ""); err != nil {
			return Catalog{}, fmt.Errorf("catalog: %w", err)
		}
	}
	return Build(req, o), nil
}

// Build is the catalog of req from what was observed. Rates are over the
// time the window has spans, from the first to the last (as the flow
// graph's are): a service that ran for a minute of an hour's window is
// not shown a sixtieth as busy.
func Build(req Request, o Observed) Catalog {
	secs := req.To.Sub(req.From).Seconds()
	var first, last time.Time
	for _, r := range o.Resources {
		if first.IsZero() || r.First.Before(first) {
			first = r.First
		}
		if r.Last.After(last) {
			last = r.Last
		}
	}
	if !first.IsZero() {
		secs = max(last.Sub(first).Seconds(), 1)
	}
	rate := func(n uint64) float64 { return float64(n) / secs }
	c := Catalog{From: req.From, To: req.To, RateSeconds: secs, Services: []Service{}}
	by := map[string]*Service{}
	get := func(name, kind string) *Service {
		s := by[name]
		if s == nil {
			s = &Service{Name: name, Kind: kind}
			by[name] = s
		}
		return s
	}
	protocols := map[string]map[string]bool{}
	addProtocol := func(svc, p string) {
		if p == "" {
			return
		}
		if protocols[svc] == nil {
			protocols[svc] = map[string]bool{}
		}
		protocols[svc][p] = true
	}

	// services: whatever records spans
	for _, r := range o.Resources {
		s := get(r.Service, KindService)
		s.Instances, s.Versions = slices.Clip(r.Instances), slices.Clip(r.Versions)
		if len(s.Instances) == 0 {
			s.Instances = nil
		}
		if len(s.Versions) == 0 {
			s.Versions = nil
		}
	}
	// topics, and who produces to each
	producers := map[string][]string{}
	for _, t := range o.Topics {
		if by[t.Service] == nil {
			continue
		}
		by[t.Service].Topics = append(by[t.Service].Topics, Topic{Name: t.Name, System: t.System, Produces: t.Sends, Consumes: t.Receives})
		if t.Sends {
			producers[t.Name] = append(producers[t.Name], t.Service)
		}
	}
	// operations served, and the protocols spoken
	type opKey struct{ service, name, kind string }
	ops := map[opKey]*Operation{}
	clientOps := map[[2]string][]string{} // service, peer -> span names
	clientProtocol := map[[2]string]string{}
	for _, r := range o.Operations {
		if by[r.Service] == nil {
			continue
		}
		addProtocol(r.Service, r.Protocol)
		switch r.Kind {
		case "Server", "Consumer":
			kind := OpServer
			if r.Kind == "Consumer" {
				kind = OpConsumer
			}
			k := opKey{r.Service, r.Name, kind}
			op := ops[k]
			if op == nil {
				op = &Operation{Name: r.Name, Kind: kind, Protocol: r.Protocol}
				ops[k] = op
			}
			op.Calls += r.Spans
			op.Errors += r.Errors
		case "Client", "Producer":
			pk := [2]string{r.Service, r.Peer}
			if r.Kind == "Producer" {
				pk[1] = r.Destination
			}
			if !slices.Contains(clientOps[pk], r.Name) {
				clientOps[pk] = append(clientOps[pk], r.Name)
			}
			clientProtocol[pk] = r.Protocol
		}
	}
	// callers of each operation
	for _, cl := range o.Callers {
		kind := OpServer
		if cl.Kind == "Consumer" {
			kind = OpConsumer
		}
		op := ops[opKey{cl.Service, cl.Operation, kind}]
		if op == nil {
			continue
		}
		switch {
		case cl.Root && kind == OpConsumer:
			// a consumer starting its own trace: its messages come from
			// the producers of its topics
			for _, t := range by[cl.Service].Topics {
				if !t.Consumes {
					continue
				}
				for _, p := range producers[t.Name] {
					op.Callers = addCaller(op.Callers, Caller{Service: p, Via: t.Name}, cl.Calls)
				}
			}
		case cl.Root:
			op.Callers = addCaller(op.Callers, Caller{Service: User}, cl.Calls)
		case cl.Caller == "":
			op.Callers = addCaller(op.Callers, Caller{Service: Unrecorded}, cl.Calls)
		default:
			via := ""
			if kind == OpConsumer {
				via = sharedTopic(by[cl.Caller], by[cl.Service])
			}
			op.Callers = addCaller(op.Callers, Caller{Service: cl.Caller, Via: via}, cl.Calls)
		}
	}
	calledOps := map[[2]string][]string{} // caller, callee -> the callee's operations
	for _, cl := range o.Callers {
		if !cl.Root && cl.Caller != "" {
			k := [2]string{cl.Caller, cl.Service}
			if !slices.Contains(calledOps[k], cl.Operation) {
				calledOps[k] = append(calledOps[k], cl.Operation)
			}
		}
	}
	for k, op := range ops {
		for i := range op.Callers {
			op.Callers[i].Rate = rate(op.Callers[i].Calls)
		}
		sort.Slice(op.Callers, func(i, j int) bool { return op.Callers[i].Service < op.Callers[j].Service })
		op.Rate = rate(op.Calls)
		by[k.service].Operations = append(by[k.service].Operations, *op)
	}

	// calls, from the edges of the flow graph
	for _, e := range o.Edges {
		caller := by[e.Client]
		if caller == nil || caller.Kind != KindService {
			continue // the user, or a virtual caller
		}
		conn := e.ConnectionType
		if conn == flowmodel.ConnectionVirtual && by[e.Server] != nil && by[e.Server].Kind == KindService {
			// calls refused (an open breaker) or lost on the way to a
			// service that records spans: calls to it all the same
			conn = flowmodel.ConnectionUnset
		}
		call := Call{Service: e.Server, ConnectionType: conn, Calls: e.Requests, Rate: rate(e.Requests), Failed: e.Failed}
		switch conn {
		case flowmodel.ConnectionMessaging:
			call.Via = sharedTopic(caller, by[e.Server])
			call.Protocol = clientProtocol[[2]string{e.Client, call.Via}]
			call.Operations = calledOps[[2]string{e.Client, e.Server}]
		case flowmodel.ConnectionDatabase, flowmodel.ConnectionVirtual:
			if e.MessagesSent > 0 {
				continue // messages nobody received: the topic says where they went
			}
			call.Operations = clientOps[[2]string{e.Client, e.Server}]
			call.Protocol = clientProtocol[[2]string{e.Client, e.Server}]
			if by[e.Server] == nil {
				kind := KindExternal
				if e.ConnectionType == flowmodel.ConnectionDatabase {
					kind = KindDatabase
				}
				get(e.Server, kind)
			}
			if by[e.Server].Kind != KindService {
				callee := by[e.Server]
				callee.CalledBy = addCaller(callee.CalledBy, Caller{Service: e.Client}, e.Requests)
				addProtocol(e.Server, call.Protocol)
			}
		default:
			call.Operations = calledOps[[2]string{e.Client, e.Server}]
			call.Protocol = clientProtocol[[2]string{e.Client, e.Server}]
		}
		sort.Strings(call.Operations)
		if i := slices.IndexFunc(caller.Calls, func(c Call) bool { return c.Service == call.Service && c.ConnectionType == call.ConnectionType }); i >= 0 {
			c := &caller.Calls[i]
			c.Calls, c.Failed, c.Rate = c.Calls+call.Calls, c.Failed+call.Failed, rate(c.Calls+call.Calls)
			continue
		}
		caller.Calls = append(caller.Calls, call)
	}

	// first and last seen
	for _, e := range o.Seen {
		if e.Requests == 0 {
			continue
		}
		for _, name := range []string{e.Client, e.Server} {
			s := by[name]
			if s == nil {
				continue
			}
			first, last := e.FirstSeen, e.LastSeen
			if s.FirstSeen == nil || first.Before(*s.FirstSeen) {
				s.FirstSeen = &first
			}
			if s.LastSeen == nil || last.After(*s.LastSeen) {
				s.LastSeen = &last
			}
		}
	}

	for _, s := range by {
		if req.Service != "" && s.Name != req.Service {
			continue
		}
		for p := range protocols[s.Name] {
			s.Protocols = append(s.Protocols, p)
		}
		sort.Strings(s.Protocols)
		sort.Slice(s.Operations, func(i, j int) bool {
			if s.Operations[i].Kind != s.Operations[j].Kind {
				return s.Operations[i].Kind > s.Operations[j].Kind // server first
			}
			return s.Operations[i].Name < s.Operations[j].Name
		})
		sort.Slice(s.Calls, func(i, j int) bool {
			a, b := s.Calls[i], s.Calls[j]
			if a.Service != b.Service {
				return a.Service < b.Service
			}
			return a.ConnectionType < b.ConnectionType
		})
		sort.Slice(s.CalledBy, func(i, j int) bool { return s.CalledBy[i].Service < s.CalledBy[j].Service })
		for i := range s.CalledBy {
			s.CalledBy[i].Rate = rate(s.CalledBy[i].Calls)
		}
		c.Services = append(c.Services, *s)
	}
	sort.Slice(c.Services, func(i, j int) bool { return c.Services[i].Name < c.Services[j].Name })
	return c
}

// addCaller adds calls to the caller c in cs.
func addCaller(cs []Caller, c Caller, calls uint64) []Caller {
	for i := range cs {
		if cs[i].Service == c.Service && cs[i].Via == c.Via {
			cs[i].Calls += calls
			return cs
		}
	}
	c.Calls = calls
	return append(cs, c)
}

// sharedTopic is the topic producer produces to and consumer consumes
// from ("" when none, or several: the edge does not say which).
func sharedTopic(producer, consumer *Service) string {
	if producer == nil || consumer == nil {
		return ""
	}
	found := ""
	for _, p := range producer.Topics {
		if !p.Produces {
			continue
		}
		for _, c := range consumer.Topics {
			if c.Consumes && c.Name == p.Name {
				if found != "" {
					return ""
				}
				found = p.Name
			}
		}
	}
	return found
}
