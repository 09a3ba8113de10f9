package gen

import (
	"context"
	"math"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/flowlens/flowlens/loadtest/topology"
)

// pendingSpan is a client span of a protected call, held until its
// breaker.state is final.
type pendingSpan struct {
	span  trace.Span
	end   int64
	b     *breaker
	short bool
}

func (g *Generator) nextSeq() int64 {
	g.seq++
	return int64(g.seq)
}

func (g *Generator) errorRate(ep *endpoint, t int64) float64 {
	r := ep.errRate
	for _, f := range ep.svc.failures {
		if f.activeAt(t) {
			f.affected++
			r = f.f.ErrorRate
		}
	}
	return r
}

// serve runs endpoint ep as a SERVER span (or a CONSUMER span with the
// producer's link) starting at t; it returns the end and whether it failed.
func (g *Generator) serve(parent context.Context, ep *endpoint, t int64, kind trace.SpanKind, producer *call) (int64, bool) {
	a := g.attrs[:0]
	a = append(a, attribute.Int64(AttrSeq, g.nextSeq()))
	var opts [4]trace.SpanStartOption
	o := opts[:0]
	o = append(o, trace.WithTimestamp(time.Unix(0, t)), trace.WithSpanKind(kind))
	if kind == trace.SpanKindConsumer {
		for _, kv := range producer.attrs {
			switch kv.Key {
			case "messaging.system", "messaging.destination.name":
				a = append(a, kv)
			}
		}
		a = append(a, attribute.String("messaging.operation.type", consumerSpanAttrOperation))
		o = append(o, trace.WithLinks(trace.Link{SpanContext: trace.SpanContextFromContext(parent)}))
	} else {
		a = append(a, ep.attrs...)
	}
	o = append(o, trace.WithAttributes(a...))
	// the next instance serves; its calls are made by the same instance
	svc := ep.svc
	outer := svc.tracer
	svc.tracer = svc.tracers[svc.turn]
	svc.turn = (svc.turn + 1) % len(svc.tracers)
	defer func() { svc.tracer = outer }()
	ctx, span := svc.tracer.Start(parent, ep.name, o...)
	ep.svc.spans++

	self := ep.lat.sample(g.rng)
	pre := self * 3 / 10
	cursor := t + pre
	failed := g.rng.Float64() < g.errorRate(ep, t)
	for _, c := range ep.calls {
		if c.prob < 1 && g.rng.Float64() >= c.prob {
			continue
		}
		n := c.count
		if c.extra > 0 {
			n += g.rng.IntN(c.extra + 1)
		}
		latest := cursor
		for range n {
			end, cf := g.call(ctx, c, cursor)
			if cf && !c.optional {
				failed = true
			}
			if c.parallel {
				latest = max(latest, end)
			} else {
				cursor = end
			}
		}
		if c.parallel {
			cursor = latest
		}
	}
	end := cursor + self - pre
	status := int64(200)
	if failed {
		status = 500
		span.SetStatus(codes.Error, "internal error")
	}
	if kind == trace.SpanKindServer && len(ep.attrs) > 0 {
		span.SetAttributes(attribute.Int64("http.response.status_code", status))
	}
	msg := ep.okMsg
	if kind == trace.SpanKindConsumer {
		msg = ep.consumeMsg
	}
	g.spanLogs(ep.svc.name, span.SpanContext(), t, end, failed, ep.startMsg, msg, ep.failMsg)
	span.End(trace.WithTimestamp(time.Unix(0, end)))
	g.noteEnd(end)
	return end, failed
}

func (g *Generator) noteEnd(end int64) {
	if end > g.lastEndNs {
		g.lastEndNs = end
	}
}

// call makes c at t with its retries; it returns when the caller has the
// final answer and whether it failed.
func (g *Generator) call(ctx context.Context, c *call, t int64) (int64, bool) {
	if c.to.typ == topology.TypeQueue {
		return g.publish(ctx, c, t), false
	}
	for attempt := 0; ; attempt++ {
		end, failed, short := g.attempt(ctx, c, t, attempt)
		if !failed || short || attempt >= c.retries {
			return end, failed
		}
		t = end + c.backoff
	}
}

// attempt is one client span of c.
func (g *Generator) attempt(ctx context.Context, c *call, t int64, attempt int) (end int64, failed, short bool) {
	// transitions are local: the server side may make protected calls too
	var trsBuf [4]transition
	trs := trsBuf[:0]
	if c.breaker != nil {
		short, trs = c.breaker.before(t, trs)
	}
	a := g.attrs[:0]
	a = append(a, attribute.Int64(AttrSeq, g.nextSeq()))
	a = append(a, c.attrs...)
	if attempt > 0 {
		a = append(a, attribute.Int(AttrResendCount, attempt))
	}
	cctx, span := c.from.tracer.Start(ctx, c.spanName, trace.WithTimestamp(time.Unix(0, t)),
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(a...))
	c.from.spans++

	status := int64(200)
	switch {
	case short:
		end, failed, status = t+int64(shortCircuitDuration), true, 503
		c.shortEdge.add(true, attempt > 0)
	case c.to.typ == topology.TypeService:
		net := g.network.sample(g.rng)
		delay := net / 2
		for _, f := range c.latency {
			if f.activeAt(t) {
				f.affected++
				delay += int64(f.f.Add)
			}
		}
		sEnd, sFailed := g.serve(cctx, c.ep, t+delay, trace.SpanKindServer, nil)
		end, failed = sEnd+net-net/2, sFailed
		c.edge.add(failed, attempt > 0)
	default: // database, external
		d := c.to.lat.sample(g.rng)
		for _, f := range c.latency {
			if f.activeAt(t) {
				f.affected++
				d += int64(f.f.Add)
			}
		}
		end, failed = t+d, g.rng.Float64() < c.to.errRate
		c.edge.add(failed, attempt > 0)
	}
	if failed && !short {
		status = 500
	}
	if c.breaker != nil {
		if !short {
			trs = c.breaker.after(end, failed, trs)
		}
		c.breaker.record(trs)
		for _, tr := range trs {
			span.AddEvent(EventBreakerStateChange, trace.WithTimestamp(time.Unix(0, tr.at)), trace.WithAttributes(
				attribute.String(AttrBreakerName, c.breaker.name),
				attribute.String(AttrBreakerPreviousState, tr.from),
				attribute.String(AttrBreakerState, tr.to)))
		}
	}
	if c.to.typ != topology.TypeDatabase {
		span.SetAttributes(attribute.Int64("http.response.status_code", status))
	}
	if failed {
		if short {
			span.SetStatus(codes.Error, "circuit breaker open")
		} else {
			span.SetStatus(codes.Error, c.to.name+" failed")
		}
	}
	sc := span.SpanContext()
	g.spanLogs(c.from.name, sc, t, end, failed, c.startMsg, c.okMsg, c.failMsg)
	for _, tr := range trs {
		g.breakerLog(c.from.name, c.breaker.name, sc, tr)
	}
	g.noteEnd(end)
	if c.breaker != nil {
		g.pending = append(g.pending, pendingSpan{span: span, end: end, b: c.breaker, short: short})
	} else {
		span.End(trace.WithTimestamp(time.Unix(0, end)))
	}
	return end, failed, short
}

// publish emits c's producer span at t and, unless the message is dropped,
// each consumer's processing; it returns the end of the producer span.
func (g *Generator) publish(ctx context.Context, c *call, t int64) int64 {
	q := c.to
	a := g.attrs[:0]
	a = append(a, attribute.Int64(AttrSeq, g.nextSeq()))
	a = append(a, c.attrs...)
	pctx, span := c.from.tracer.Start(ctx, c.spanName, trace.WithTimestamp(time.Unix(0, t)),
		trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(a...))
	c.from.spans++
	end := t + g.network.sample(g.rng)/2
	q.queue.sent++
	dropped := false
	for _, f := range q.drops {
		if f.activeAt(t) && g.rng.Float64() < f.f.Ratio {
			f.affected++
			dropped = true
		}
	}
	g.spanLogs(c.from.name, span.SpanContext(), t, end, false, c.startMsg, c.okMsg, c.failMsg)
	span.End(trace.WithTimestamp(time.Unix(0, end)))
	g.noteEnd(end)
	if dropped {
		q.queue.dropped++
		c.dropEdge.add(false, false)
		return end
	}
	for i, ce := range q.consumers {
		at := t + q.delay.sample(g.rng)
		_, failed := g.serve(pctx, ce, at, trace.SpanKindConsumer, c)
		q.queue.received[i]++
		c.delivered[i].add(failed, false)
	}
	return end
}

// endPending ends the held spans that end before t, with the state their
// breaker had then; t = MaxInt64 ends them all.
func (g *Generator) endPending(t int64) {
	if len(g.pending) == 0 {
		return
	}
	kept := g.pending[:0]
	for _, p := range g.pending {
		if p.end >= t {
			kept = append(kept, p)
			continue
		}
		state := StateOpen // a short-circuited call saw it open
		if !p.short {
			state = p.b.stateAt(p.end)
		}
		p.span.SetAttributes(attribute.String(AttrBreakerName, p.b.name), attribute.String(AttrBreakerState, state))
		p.span.End(trace.WithTimestamp(time.Unix(0, p.end)))
	}
	clear(g.pending[len(kept):])
	g.pending = kept
	if t != math.MaxInt64 {
		for _, b := range g.breakers {
			if len(b.history) > 32 {
				b.trimBefore(t) // every span still held ends at t or later
			}
		}
	}
}
