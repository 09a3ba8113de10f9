package peers

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// SpansPerTrace is the shape of every generated trace: one root and nine
// descendants, as a request through a few services.
const SpansPerTrace = 10

var (
	services = []string{"frontend", "checkout", "cart", "catalog", "payment", "shipping", "users", "recommendations"}
	routes   = []string{"/api/orders/%d", "/api/cart/%d/items", "/api/products/%d", "/api/users/%d/profile", "/api/payments/%d", "/api/shipments/%d/track"}
	methods  = []string{"GET", "GET", "GET", "POST", "PUT", "DELETE"}
	browsers = []string{"Chrome/%d.0.%d.%d", "Firefox/%d.%d.%d", "Version/%d.%d Safari/605.1.%d", "Edg/%d.0.%d.%d"}
	systems  = []string{"Windows NT 10.0; Win64; x64", "Macintosh; Intel Mac OS X 10_15_%d", "X11; Linux x86_64", "iPhone; CPU iPhone OS 17_%d like Mac OS X", "Linux; Android 14; Pixel %d"}
)

// Trace is trace number i of a run: SpansPerTrace spans whose IDs, URLs,
// user agents, session and user IDs never repeat across traces, with
// 10-20 attributes per span, as production spans carry. The same (seed, i)
// gives the same trace.
func Trace(seed uint64, i int, start time.Time) ptrace.Traces {
	rng := rand.New(rand.NewPCG(seed, uint64(i)))
	td := ptrace.NewTraces()
	var traceID pcommon.TraceID
	binary.BigEndian.PutUint64(traceID[:8], rng.Uint64())
	binary.BigEndian.PutUint64(traceID[8:], uint64(i)+1) // unique per trace
	session := fmt.Sprintf("%016x%016x", rng.Uint64(), rng.Uint64())
	user := fmt.Sprintf("u-%d-%08x", i, rng.Uint32())
	agent := userAgent(rng)
	client := fmt.Sprintf("10.%d.%d.%d", rng.IntN(256), rng.IntN(256), rng.IntN(256))
	at := start.Add(time.Duration(i) * time.Millisecond)

	var parents [SpansPerTrace]pcommon.SpanID
	for s := range SpansPerTrace {
		svc := services[(i+s)%len(services)]
		if s == 0 {
			svc = "frontend"
		}
		rs := td.ResourceSpans().AppendEmpty()
		res := rs.Resource().Attributes()
		res.PutStr("service.name", svc)
		res.PutStr("service.namespace", "shop")
		res.PutStr("service.version", fmt.Sprintf("1.%d.%d", (i/100000)%10, s))
		res.PutStr("service.instance.id", fmt.Sprintf("%s-%d", svc, rng.IntN(16)))
		res.PutStr("host.name", fmt.Sprintf("node-%03d", rng.IntN(200)))
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("io.opentelemetry.http")
		ss.Scope().SetVersion("1.38.0")

		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(traceID)
		var id pcommon.SpanID
		binary.BigEndian.PutUint64(id[:], uint64(i)*SpansPerTrace+uint64(s)+1)
		sp.SetSpanID(id)
		parents[s] = id
		if s > 0 {
			sp.SetParentSpanID(parents[(s-1)/2]) // a binary tree under the root
		}
		kind := ptrace.SpanKindServer
		if s%2 == 1 {
			kind = ptrace.SpanKindClient
		}
		sp.SetKind(kind)
		id64 := rng.Int64N(1 << 40)
		route := routes[(i+s)%len(routes)]
		method := methods[rng.IntN(len(methods))]
		template := strings.Replace(route, "%d", "{id}", 1)
		sp.SetName(method + " " + template)
		begin := at.Add(time.Duration(s) * 3 * time.Millisecond)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(begin))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(begin.Add(time.Duration(1+rng.IntN(40_000)) * time.Microsecond)))
		status := 200
		if rng.IntN(50) == 0 {
			status = 500
			sp.Status().SetCode(ptrace.StatusCodeError)
			sp.Status().SetMessage(fmt.Sprintf("upstream %s failed for request %x", svc, rng.Uint64()))
		}

		a := sp.Attributes()
		path := fmt.Sprintf(route, id64)
		a.PutStr("http.request.method", method)
		a.PutStr("url.full", fmt.Sprintf("https://shop.example.com%s?session=%s&ref=%x", path, session, rng.Uint32()))
		a.PutStr("url.path", path)
		a.PutStr("http.route", template)
		a.PutInt("http.response.status_code", int64(status))
		a.PutStr("user_agent.original", agent)
		a.PutStr("session.id", session)
		a.PutStr("enduser.id", user)
		a.PutStr("client.address", client)
		a.PutStr("request.id", fmt.Sprintf("%08x-%04x-%04x-%012x", rng.Uint32(), rng.Uint32()&0xffff, rng.Uint32()&0xffff, rng.Uint64()&0xffffffffffff))
		// 10 above, up to 10 more: which ones and how many vary by span.
		for k := range rng.IntN(11) {
			switch k {
			case 0:
				a.PutStr("server.address", fmt.Sprintf("%s.shop.svc.cluster.local", services[(i+s+1)%len(services)]))
			case 1:
				a.PutInt("server.port", 8080)
			case 2:
				a.PutStr("peer.service", services[(i+s+1)%len(services)])
			case 3:
				a.PutInt("http.request.body.size", rng.Int64N(1<<16))
			case 4:
				a.PutInt("http.response.body.size", rng.Int64N(1<<20))
			case 5:
				a.PutStr("cart.id", fmt.Sprintf("cart-%x", rng.Uint64()))
			case 6:
				a.PutStr("order.id", fmt.Sprintf("ord-%d-%x", i, rng.Uint32()))
			case 7:
				a.PutStr("network.protocol.version", "1.1")
			case 8:
				a.PutStr("thread.name", fmt.Sprintf("http-nio-8080-exec-%d", rng.IntN(200)))
			case 9:
				a.PutBool("cache.hit", rng.IntN(2) == 0)
			}
		}
	}
	return td
}

// userAgent is a browser's user agent whose versions and app build make
// it unique to the trace's user, as the user agents of mobile apps that
// carry their install's build are.
func userAgent(rng *rand.Rand) string {
	sys := systems[rng.IntN(len(systems))]
	if strings.Contains(sys, "%d") {
		sys = fmt.Sprintf(sys, rng.IntN(20))
	}
	b := browsers[rng.IntN(len(browsers))]
	b = fmt.Sprintf(b, 100+rng.IntN(40), rng.IntN(7000), rng.IntN(300))
	return fmt.Sprintf("Mozilla/5.0 (%s) AppleWebKit/537.36 (KHTML, like Gecko) %s shop-app/4.%d.%d (build %x)", sys, b, rng.IntN(30), rng.IntN(100), rng.Uint64())
}
