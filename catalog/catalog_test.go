package catalog_test

import (
	"context"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowlens/flowlens/catalog"
	"github.com/flowlens/flowlens/internal/chtest"
	"github.com/flowlens/flowlens/internal/flowmodel"
	"github.com/flowlens/flowlens/internal/storetest"
	"github.com/flowlens/flowlens/loadtest/gen"
	"github.com/flowlens/flowlens/loadtest/storeload"
	"github.com/flowlens/flowlens/loadtest/topology"
	"github.com/flowlens/flowlens/storage"
)

func TestMain(m *testing.M) { os.Exit(chtest.Main(m)) }

// play stores a minute of a topology (the shop for "") at 20 requests a
// second from start, and returns its truth.
func play(t *testing.T, st *storage.Store, top string, start time.Time, seed uint64) *gen.Truth {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := storeload.Load(ctx, st, storeload.Options{Topology: top, Rate: 20, Duration: time.Minute, Seed: seed, Start: start})
	if err != nil {
		t.Fatal(err)
	}
	return res.Truth
}

func read(t *testing.T, st *storage.Store, from, to time.Time) catalog.Catalog {
	t.Helper()
	c, err := catalog.Read(context.Background(), st, catalog.Request{From: from, To: to})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The catalog of the demo shop is its topology file: every service with
// the operations it serves and who calls them, what it calls and how,
// its topics, protocols and instances; every database and external peer
// with who calls it. And the calls are the truth's, to the one.
func TestShopCatalogIsItsTopology(t *testing.T) {
	st := storetest.Migrated(t)
	start := time.Now().UTC().Add(-20 * time.Minute)
	tr := play(t, st, "", start, 1)
	got := read(t, st, start.Add(-time.Minute), start.Add(5*time.Minute))
	want := fromTopology(t, topology.Default())
	if diff := cmp.Diff(want, structure(got)); diff != "" {
		t.Errorf("the shop's catalog (-topology +observed):\n%s", diff)
	}
	calls := map[[2]string]uint64{}
	for _, e := range tr.Edges {
		if e.Client != gen.User && e.Destination == "" || e.ConnectionType == flowmodel.ConnectionMessaging {
			calls[[2]string{e.Client, e.Server}] += e.Requests
		}
	}
	for _, s := range got.Services {
		for _, c := range s.Calls {
			if want := calls[[2]string{s.Name, c.Service}]; c.Calls != want {
				t.Errorf("%s calls %s %d times, the truth %d", s.Name, c.Service, c.Calls, want)
			}
		}
	}
	for _, s := range got.Services {
		if s.FirstSeen == nil || s.FirstSeen.Before(start.Truncate(time.Millisecond)) || s.LastSeen.After(start.Add(2*time.Minute)) {
			t.Errorf("%s seen from %v to %v; the shop ran from %s for a minute", s.Name, s.FirstSeen, s.LastSeen, start)
		}
	}
}

// A changed topology shows exactly its changes: the catalog of a window of
// the shop against one of the changed shop differs as the two topology
// files do.
func TestChangedTopologyShowsItsChanges(t *testing.T) {
	st := storetest.Migrated(t)
	now := time.Now().UTC()
	before, after := now.Add(-50*time.Minute), now.Add(-20*time.Minute)
	play(t, st, "", before, 1)
	play(t, st, "testdata/shop-changed.yaml", after, 2)
	changed, err := topology.Load("testdata/shop-changed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := catalog.Changes(read(t, st, before.Add(-time.Minute), before.Add(5*time.Minute)), read(t, st, after.Add(-time.Minute), after.Add(5*time.Minute)))
	want := catalog.Changes(fromTopology(t, topology.Default()), fromTopology(t, changed))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("changes (-the topology files' +observed):\n%s", diff)
	}
	// and they are the changes made on purpose (testdata/shop-changed.yaml)
	var says []string
	for _, c := range got {
		says = append(says, c.String())
	}
	designed := []string{
		"catalog: new operation GET /reviews",
		"checkout: new call shipping (via order-events)",
		"checkout: new topic order-events (produces)",
		"payments: new instance payments-1",
		"payments: new version 2.0.0",
		"redis: caller gone search",
		"search: call gone redis (database)",
		"search: protocol gone redis",
		"shipping: new operation record order",
		"shipping: new protocol kafka",
		"shipping: new topic order-events (consumes)",
	}
	if !slices.Equal(says, designed) {
		t.Errorf("changes\n%s\nwant\n%s", strings.Join(says, "\n"), strings.Join(designed, "\n"))
	}
}

// structure is the catalog without what differs between two runs of the
// same topology: counts, rates, times.
func structure(c catalog.Catalog) catalog.Catalog {
	out := catalog.Catalog{Services: []catalog.Service{}}
	for _, s := range c.Services {
		s.FirstSeen, s.LastSeen = nil, nil
		s.Operations = slices.Clone(s.Operations)
		for i := range s.Operations {
			op := &s.Operations[i]
			op.Calls, op.Rate, op.Errors = 0, 0, 0
			op.Callers = stripCallers(op.Callers)
		}
		s.Calls = slices.Clone(s.Calls)
		for i := range s.Calls {
			s.Calls[i].Calls, s.Calls[i].Rate, s.Calls[i].Failed = 0, 0, 0
		}
		s.CalledBy = stripCallers(s.CalledBy)
		out.Services = append(out.Services, s)
	}
	return out
}

func stripCallers(cs []catalog.Caller) []catalog.Caller {
	var out []catalog.Caller
	for _, c := range cs {
		out = append(out, catalog.Caller{Service: c.Service, Via: c.Via})
	}
	return out
}

// fromTopology is the catalog a topology file declares, as the generator
// plays it (loadtest/gen): HTTP endpoints are named "METHOD /path",
// databases and externals record nothing, each queue's consumers get
// every message, a service has instances <name>-0...
func fromTopology(t *testing.T, top *topology.Topology) catalog.Catalog {
	t.Helper()
	by := map[string]*catalog.Service{}
	protocols := map[string]map[string]bool{}
	proto := func(svc, p string) {
		if p == "" {
			return
		}
		if protocols[svc] == nil {
			protocols[svc] = map[string]bool{}
		}
		protocols[svc][p] = true
	}
	httpName := func(name string) string {
		method, route, ok := strings.Cut(name, " ")
		if ok && strings.HasPrefix(route, "/") && method == strings.ToUpper(method) {
			return "http"
		}
		return ""
	}
	get := func(name string) *catalog.Service {
		if by[name] == nil {
			kind := map[string]string{topology.TypeService: catalog.KindService, topology.TypeDatabase: catalog.KindDatabase,
				topology.TypeExternal: catalog.KindExternal}[top.Service(name).Type]
			by[name] = &catalog.Service{Name: name, Kind: kind}
		}
		return by[name]
	}
	type opKey struct{ service, op string }
	ops := map[opKey]*catalog.Operation{}
	served := func(svc, ep, kind, protocol string, caller catalog.Caller) {
		s := get(svc)
		k := opKey{svc, ep}
		if ops[k] == nil {
			ops[k] = &catalog.Operation{Name: ep, Kind: kind, Protocol: protocol}
			proto(svc, protocol)
		}
		if !slices.Contains(ops[k].Callers, caller) {
			ops[k].Callers = append(ops[k].Callers, caller)
		}
		_ = s
	}
	addTopic := func(svc string, tp catalog.Topic) {
		s := get(svc)
		for i := range s.Topics {
			if s.Topics[i].Name == tp.Name {
				s.Topics[i].Produces = s.Topics[i].Produces || tp.Produces
				s.Topics[i].Consumes = s.Topics[i].Consumes || tp.Consumes
				return
			}
		}
		s.Topics = append(s.Topics, tp)
	}
	addCall := func(s *catalog.Service, c catalog.Call) {
		for i := range s.Calls {
			if s.Calls[i].Service == c.Service && s.Calls[i].ConnectionType == c.ConnectionType {
				for _, op := range c.Operations {
					if !slices.Contains(s.Calls[i].Operations, op) {
						s.Calls[i].Operations = append(s.Calls[i].Operations, op)
					}
				}
				return
			}
		}
		s.Calls = append(s.Calls, c)
	}
	// the endpoints that run: the entry's, and what they call, on and on
	var visit func(svc, ep string)
	seen := map[opKey]bool{}
	visit = func(svc, ep string) {
		s := top.Service(svc)
		e := s.Endpoint(ep)
		if seen[opKey{svc, e.Name}] {
			return
		}
		seen[opKey{svc, e.Name}] = true
		caller := get(svc)
		for _, c := range e.Calls {
			to := top.Service(c.Service)
			switch to.Type {
			case topology.TypeService:
				te := to.Endpoint(c.Endpoint)
				p := httpName(te.Name)
				served(to.Name, te.Name, catalog.OpServer, p, catalog.Caller{Service: svc})
				addCall(caller, catalog.Call{Service: to.Name, Operations: []string{te.Name}, Protocol: p})
				proto(svc, p)
				visit(to.Name, te.Name)
			case topology.TypeDatabase:
				op := c.Endpoint
				if op == "" {
					op = "query"
				}
				addCall(caller, catalog.Call{Service: to.Name, ConnectionType: flowmodel.ConnectionDatabase, Operations: []string{op}, Protocol: to.Database.System})
				proto(svc, to.Database.System)
				proto(to.Name, to.Database.System)
				db := get(to.Name)
				if !slices.ContainsFunc(db.CalledBy, func(x catalog.Caller) bool { return x.Service == svc }) {
					db.CalledBy = append(db.CalledBy, catalog.Caller{Service: svc})
				}
			case topology.TypeExternal:
				op := c.Endpoint
				if op == "" {
					op = "call"
				}
				p := httpName(op)
				addCall(caller, catalog.Call{Service: to.Name, ConnectionType: flowmodel.ConnectionVirtual, Operations: []string{op}, Protocol: p})
				proto(svc, p)
				proto(to.Name, p)
				ext := get(to.Name)
				if !slices.ContainsFunc(ext.CalledBy, func(x catalog.Caller) bool { return x.Service == svc }) {
					ext.CalledBy = append(ext.CalledBy, catalog.Caller{Service: svc})
				}
			case topology.TypeQueue:
				q := to.Queue
				addTopic(svc, catalog.Topic{Name: q.Destination, System: q.System, Produces: true})
				proto(svc, q.System)
				for _, cons := range q.Consumers {
					ce := top.Service(cons.Service).Endpoint(cons.Endpoint)
					addTopic(cons.Service, catalog.Topic{Name: q.Destination, System: q.System, Consumes: true})
					served(cons.Service, ce.Name, catalog.OpConsumer, q.System, catalog.Caller{Service: svc, Via: q.Destination})
					addCall(caller, catalog.Call{Service: cons.Service, ConnectionType: flowmodel.ConnectionMessaging, Protocol: q.System, Via: q.Destination,
						Operations: []string{ce.Name}})
					visit(cons.Service, ce.Name)
				}
			}
		}
	}
	entry := top.Service(top.Entry.Service)
	for _, w := range top.Entry.Endpoints {
		e := entry.Endpoint(w.Endpoint)
		served(entry.Name, e.Name, catalog.OpServer, httpName(e.Name), catalog.Caller{Service: catalog.User})
		visit(entry.Name, e.Name)
	}
	out := catalog.Catalog{Services: []catalog.Service{}}
	for k, op := range ops {
		sort.Slice(op.Callers, func(i, j int) bool { return op.Callers[i].Service < op.Callers[j].Service })
		by[k.service].Operations = append(by[k.service].Operations, *op)
	}
	for _, s := range by {
		if ts := top.Service(s.Name); ts.Type == topology.TypeService {
			for i := range ts.Instances {
				s.Instances = append(s.Instances, s.Name+"-"+string(rune('0'+i)))
			}
			if ts.Version != "" {
				s.Versions = []string{ts.Version}
			}
		}
		for p := range protocols[s.Name] {
			s.Protocols = append(s.Protocols, p)
		}
		sort.Strings(s.Protocols)
		sort.Slice(s.Operations, func(i, j int) bool {
			if s.Operations[i].Kind != s.Operations[j].Kind {
				return s.Operations[i].Kind > s.Operations[j].Kind
			}
			return s.Operations[i].Name < s.Operations[j].Name
		})
		sort.Slice(s.Calls, func(i, j int) bool {
			if s.Calls[i].Service != s.Calls[j].Service {
				return s.Calls[i].Service < s.Calls[j].Service
			}
			return s.Calls[i].ConnectionType < s.Calls[j].ConnectionType
		})
		for i := range s.Calls {
			sort.Strings(s.Calls[i].Operations)
		}
		sort.Slice(s.Topics, func(i, j int) bool { return s.Topics[i].Name < s.Topics[j].Name })
		sort.Slice(s.CalledBy, func(i, j int) bool { return s.CalledBy[i].Service < s.CalledBy[j].Service })
		out.Services = append(out.Services, *s)
	}
	sort.Slice(out.Services, func(i, j int) bool { return out.Services[i].Name < out.Services[j].Name })
	return out
}

// One service's entry is what the whole catalog says of it.
func TestOneServiceIsItsEntryInTheWhole(t *testing.T) {
	st := storetest.Migrated(t)
	start := time.Now().UTC().Add(-20 * time.Minute)
	play(t, st, "", start, 3)
	from, to := start.Add(-time.Minute), start.Add(5*time.Minute)
	whole := read(t, st, from, to)
	for _, svc := range []string{"checkout", "fulfilment", "postgres", "payment-provider"} {
		one, err := catalog.Read(context.Background(), st, catalog.Request{From: from, To: to, Service: svc})
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(whole.Services, func(s catalog.Service) bool { return s.Name == svc })
		if len(one.Services) != 1 || i < 0 {
			t.Fatalf("%s: %d entries alone, in the whole at %d", svc, len(one.Services), i)
		}
		if diff := cmp.Diff(whole.Services[i], one.Services[0]); diff != "" {
			t.Errorf("%s alone (-in the whole +alone):\n%s", svc, diff)
		}
	}
}
