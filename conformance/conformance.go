// Package conformance reports how well each service follows the
// platform's logging policy (conformance/policy) over a window of stored
// data: the share of its log records that carry each field, and the share
// of its calls recorded on both sides, with the peers whose calls were
// recorded on one side only. `flowlens conformance`, the console and the
// API answer from it (through package query); the flow analyzer exposes
// the same figures live as metrics, which the `conformance` rule shorthand
// alerts on.
package conformance

import (
	"context"
	"fmt"
	"sort"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/flowlens/flowlens/conformance/policy"
	"github.com/flowlens/flowlens/internal/flowmodel"
	"github.com/flowlens/flowlens/storage"
)

// UnnamedService names the log records without a service.name, as the
// flow analyzer's metrics do.
const UnnamedService = "unknown_service"

// DefaultTarget is the share below which a figure is marked, unless the
// request says otherwise.
const DefaultTarget = 0.99

// Request asks for the report of [From, To).
type Request struct {
	From, To time.Time
	// Service keeps one service ("" every one).
	Service string
	// Target is the lowest share that conforms (default DefaultTarget).
	Target float64
}

// Report is the policy's figures per service over a window.
type Report struct {
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	Target   float64   `json:"target"`
	Services []Service `json:"services"`
	// Notes say what the figures cannot show.
	Notes []string `json:"notes,omitempty"`
}

// Service is one service's figures.
type Service struct {
	Name string `json:"name"`
	// Logs is nil when the service wrote no log record in the window.
	Logs *Logs `json:"logs,omitempty"`
	// Client are the calls it made, Server those it served; nil when none.
	Client *Calls `json:"client,omitempty"`
	Server *Calls `json:"server,omitempty"`
	// Below names what falls below the target: log fields, "client calls",
	// "server calls".
	Below []string `json:"below,omitempty"`
}

// Logs are a service's log records and the share carrying each field.
type Logs struct {
	Records uint64  `json:"records"`
	Fields  []Field `json:"fields"`
}

// Field is one field of the policy: how many records carry it. A field
// the stored data cannot show (the record's own timestamp) has Known false.
type Field struct {
	Name  string  `json:"name"`
	Known bool    `json:"known"`
	With  uint64  `json:"with"`
	Share float64 `json:"share"`
}

// Calls are the calls of one side of a service, and those recorded on
// both sides.
type Calls struct {
	Calls uint64  `json:"calls"`
	Both  uint64  `json:"both"`
	Share float64 `json:"share"`
	// OneSided are the peers of the calls recorded on this side only, most
	// calls first.
	OneSided []Peer `json:"one_sided,omitempty"`
}

// Peer is the other side of calls recorded on one side only.
type Peer struct {
	Name  string `json:"name"`
	Calls uint64 `json:"calls"`
	// Instrumented says the peer records spans of its own elsewhere: its
	// side of these calls was refused (an open circuit breaker), lost, or
	// the call never reached it. Otherwise the peer records nothing: an
	// uninstrumented service (client side), or a caller that does not
	// record its calls (server side).
	Instrumented bool `json:"instrumented"`
	// Messages says these are messages: sent to a queue or topic that
	// nobody was seen receiving (lost, or consumers that record nothing),
	// or received with no producer span.
	Messages bool `json:"messages,omitempty"`
	// Meaning says what the calls point at, for people.
	Meaning string `json:"meaning"`
}

// meaning says what calls recorded on one side point at.
func (p Peer) meaning(side string) string {
	switch {
	case side == policy.SideServer && p.Messages:
		return "messages received with no producer span: their producer records nothing"
	case side == policy.SideServer:
		return "served with no client span: the caller does not record its calls"
	case p.Messages:
		return "messages sent that nobody was seen receiving: lost in " + p.Name + ", or its consumers record nothing"
	case p.Instrumented:
		return p.Name + " records spans elsewhere: these calls were refused (an open breaker), lost, or never reached it"
	}
	return p.Name + " records nothing: an uninstrumented peer"
}

// Read builds the report of req from st: the log records of the window
// (otel_logs) and its flow edges (flow_edges), read in parallel.
func Read(ctx context.Context, st *storage.Store, req Request) (Report, error) {
	if !req.To.After(req.From) {
		return Report{}, fmt.Errorf("conformance: %w: empty time range %s - %s", storage.ErrInvalidQuery, req.From, req.To)
	}
	var (
		logs  []storage.LogFieldCounts
		edges []flowmodel.EdgeAggregate
	)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		logs, err = st.LogFieldCounts(gctx, req.From, req.To, policy.InstanceKeys)
		return err
	})
	g.Go(func() (err error) {
		edges, err = st.QueryEdges(gctx, req.From, req.To, "")
		return err
	})
	if err := g.Wait(); err != nil {
		return Report{}, fmt.Errorf("conformance: %w", err)
	}
	return Build(req, logs, edges), nil
}

// Build is the report of req from the window's log field counts and
// edges: the calls of each edge are judged as the analyzer's metrics
// judge them (policy.EdgeCalls).
func Build(req Request, logs []storage.LogFieldCounts, edges []flowmodel.EdgeAggregate) Report {
	if req.Target <= 0 {
		req.Target = DefaultTarget
	}
	rep := Report{From: req.From, To: req.To, Target: req.Target, Services: []Service{},
		Notes: []string{"timestamp: stored records cannot show it (a record without its own time is stored with the time it was observed); the flow analyzer counts it live: flowlens_conformance_log_records_with_total{field=\"timestamp\"}"}}
	by := map[string]*Service{}
	get := func(name string) *Service {
		s := by[name]
		if s == nil {
			s = &Service{Name: name}
			by[name] = s
		}
		return s
	}
	for _, c := range logs {
		name := c.Service
		if name == "" {
			name = UnnamedService
		}
		l := &Logs{Records: c.Records}
		for _, f := range []struct {
			name  string
			with  uint64
			known bool
		}{{policy.FieldServiceName, c.ServiceName, true}, {policy.FieldInstance, c.Instance, true}, {policy.FieldTimestamp, 0, false},
			{policy.FieldSeverity, c.Severity, true}, {policy.FieldTraceID, c.TraceID, true}} {
			fl := Field{Name: f.name, Known: f.known}
			if f.known {
				fl.With, fl.Share = f.with, share(f.with, c.Records)
			}
			l.Fields = append(l.Fields, fl)
		}
		s := get(name)
		if s.Logs != nil { // "" and a service literally named unknown_service
			s.Logs.Records += l.Records
			for i := range l.Fields {
				s.Logs.Fields[i].With += l.Fields[i].With
				s.Logs.Fields[i].Share = share(s.Logs.Fields[i].With, s.Logs.Records)
			}
			continue
		}
		s.Logs = l
	}

	// who records spans: a side with a duration on any edge
	recording := map[string]bool{}
	type peerKey struct {
		service, side, peer string
		messages            bool
	}
	oneSided := map[peerKey]uint64{}
	for _, e := range edges {
		if e.ClientLatency.Count() > 0 {
			recording[e.Client] = true
		}
		if e.ServerLatency.Count() > 0 {
			recording[e.Server] = true
		}
		for _, cc := range policy.EdgeCalls(e.Client, e.Server, e.ConnectionType, e.Requests, e.ClientLatency.Count(), e.ServerLatency.Count(),
			e.MessagesSent+e.MessagesReceived > 0) {
			s := get(cc.Service)
			side := &s.Client
			if cc.Side == policy.SideServer {
				side = &s.Server
			}
			if *side == nil {
				*side = &Calls{}
			}
			(*side).Calls += cc.Calls
			if cc.Recorded == policy.RecordedBoth {
				(*side).Both += cc.Calls
			} else {
				oneSided[peerKey{cc.Service, cc.Side, cc.Peer, cc.Messages}] += cc.Calls
			}
		}
	}
	for k, n := range oneSided {
		s := by[k.service]
		side := s.Client
		if k.side == policy.SideServer {
			side = s.Server
		}
		p := Peer{Name: k.peer, Calls: n, Instrumented: recording[k.peer], Messages: k.messages}
		p.Meaning = p.meaning(k.side)
		side.OneSided = append(side.OneSided, p)
	}

	for _, s := range by {
		if req.Service != "" && s.Name != req.Service {
			continue
		}
		if s.Logs != nil {
			for _, f := range s.Logs.Fields {
				if f.Known && f.Share < req.Target {
					s.Below = append(s.Below, f.Name)
				}
			}
		}
		for _, c := range []struct {
			calls *Calls
			what  string
		}{{s.Client, "client calls"}, {s.Server, "server calls"}} {
			if c.calls == nil {
				continue
			}
			c.calls.Share = share(c.calls.Both, c.calls.Calls)
			sort.Slice(c.calls.OneSided, func(i, j int) bool {
				a, b := c.calls.OneSided[i], c.calls.OneSided[j]
				if a.Calls != b.Calls {
					return a.Calls > b.Calls
				}
				return a.Name < b.Name
			})
			if c.calls.Share < req.Target {
				s.Below = append(s.Below, c.what)
			}
		}
		rep.Services = append(rep.Services, *s)
	}
	sort.Slice(rep.Services, func(i, j int) bool { return rep.Services[i].Name < rep.Services[j].Name })
	return rep
}

func share(n, of uint64) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}
