package gen

import (
	"maps"
	"sort"
	"time"

	"github.com/flowlens/flowlens/loadtest/topology"
)

type edgeCount struct {
	key                       EdgeKey
	requests, failed, retries uint64
}

func (e *edgeCount) add(failed, retry bool) {
	e.requests++
	if failed {
		e.failed++
	}
	if retry {
		e.retries++
	}
}

type queueCount struct {
	svc           *service
	sent, dropped uint64
	received      []uint64 // per consumer
}

// Truth returns what was emitted so far. Call it from the generating
// goroutine (or after Run).
func (g *Generator) Truth() *Truth {
	g.Flush()
	t := &Truth{
		Topology:       g.top.Name,
		Seed:           g.opts.Seed,
		RunID:          g.opts.RunID,
		Start:          time.Unix(0, g.startNs).UTC(),
		End:            time.Unix(0, max(g.lastEndNs, g.startNs)).UTC(),
		Requests:       g.requests,
		Spans:          g.seq,
		Logs:           g.logSeq,
		SpansByService: map[string]uint64{},
		LogsByService:  maps.Clone(g.logsByService),
		Breakers:       append([]BreakerTransition{}, g.transitions...),
		Expected:       Expected(g.top),
	}
	for _, s := range g.services {
		if s.spans > 0 {
			t.SpansByService[s.name] = s.spans
		}
	}
	for _, e := range g.edges {
		if e.requests > 0 {
			t.Edges = append(t.Edges, EdgeTruth{EdgeKey: e.key, Requests: e.requests, Failed: e.failed, Retries: e.retries})
		}
	}
	sortEdges(t.Edges)
	sort.SliceStable(t.Breakers, func(i, j int) bool { return t.Breakers[i].Time.Before(t.Breakers[j].Time) })
	for _, q := range g.queues {
		qt := QueueTruth{Queue: q.svc.name, Sent: q.sent, Dropped: q.dropped, Received: map[string]uint64{}}
		ts := g.top.Service(q.svc.name)
		qt.System, qt.Destination = ts.Queue.System, ts.Queue.Destination
		for i, ce := range q.svc.consumers {
			qt.Received[ce.svc.name] += q.received[i]
		}
		t.Queues = append(t.Queues, qt)
	}
	runEnd := g.NextArrival()
	for _, fs := range g.faults {
		ft := FaultTruth{Name: fs.f.Name, Kind: fs.f.Kind, Target: fs.target, Affected: fs.affected,
			Start: time.Unix(0, fs.startNs).UTC(), End: time.Unix(0, min(fs.endNs, max(runEnd, fs.startNs))).UTC(),
			Active: fs.startNs < runEnd}
		switch fs.f.Kind {
		case topology.FaultQueueDrop, topology.FaultLogsWithoutTraceID:
			ft.Ratio = fs.f.Ratio
		case topology.FaultServiceError:
			ft.ErrorRate = fs.f.ErrorRate
		case topology.FaultLatency:
			ft.Add = fs.f.Add
		}
		t.Faults = append(t.Faults, ft)
	}
	return t
}
