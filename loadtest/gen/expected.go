package gen

import (
	"sort"

	"github.com/flowlens/flowlens/internal/flowmodel"
	"github.com/flowlens/flowlens/loadtest/topology"
)

// ExpectedEdge is an edge a topology implies, with the mean number of calls
// on it per root request when nothing fails (no retries, no open breakers,
// no dropped messages): what a graph drawn from the traffic should approach.
type ExpectedEdge struct {
	EdgeKey
	PerRequest float64 `json:"per_request"`
}

// Expected returns the edges of top with their mean calls per root request,
// sorted like Truth.Edges. Root requests are the edge from User.
func Expected(top *topology.Topology) []ExpectedEdge {
	acc := map[EdgeKey]float64{}
	var visit func(svc, ep string, w float64)
	visit = func(svc, ep string, w float64) {
		s := top.Service(svc)
		e := s.Endpoint(ep)
		for _, c := range e.Calls {
			n := float64(c.Count)
			if c.MaxCount > c.Count {
				n = float64(c.Count+c.MaxCount) / 2
			}
			cw := w * c.Prob() * n
			if cw == 0 {
				continue
			}
			to := top.Service(c.Service)
			switch to.Type {
			case topology.TypeService:
				acc[EdgeKey{Client: svc, Server: to.Name}] += cw
				visit(to.Name, c.Endpoint, cw)
			case topology.TypeDatabase:
				acc[EdgeKey{Client: svc, Server: to.Name, ConnectionType: flowmodel.ConnectionDatabase}] += cw
			case topology.TypeExternal:
				acc[EdgeKey{Client: svc, Server: to.Name, ConnectionType: flowmodel.ConnectionVirtual}] += cw
			case topology.TypeQueue:
				for _, cons := range to.Queue.Consumers {
					acc[EdgeKey{Client: svc, Server: cons.Service, ConnectionType: flowmodel.ConnectionMessaging, Destination: to.Queue.Destination}] += cw
					visit(cons.Service, cons.Endpoint, cw)
				}
			}
		}
	}
	entry := top.Service(top.Entry.Service)
	acc[EdgeKey{Client: User, Server: entry.Name}] = 1
	if len(top.Entry.Endpoints) == 0 {
		for _, e := range entry.Endpoints {
			visit(entry.Name, e.Name, 1/float64(len(entry.Endpoints)))
		}
	} else {
		var total float64
		for _, w := range top.Entry.Endpoints {
			total += w.Weight
		}
		for _, w := range top.Entry.Endpoints {
			visit(entry.Name, w.Endpoint, w.Weight/total)
		}
	}
	out := make([]ExpectedEdge, 0, len(acc))
	for k, v := range acc {
		out = append(out, ExpectedEdge{EdgeKey: k, PerRequest: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].EdgeKey.less(out[j].EdgeKey) })
	return out
}
