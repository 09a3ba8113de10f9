package storage

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/flowlens/flowlens/internal/flowmodel"
)

// edgeTier is a resolution edge sums are read at: flow_edges itself, by
// minute, or the sums its views write per a coarser unit.
type edgeTier struct {
	unit    time.Duration
	table   string
	timeCol string // start of the row's unit
}

// edgeTiers, finest first. Each unit is a whole number of the one before,
// and every unit starts at a multiple of it since the Unix epoch (UTC), so
// a unit of one tier is whole units of every finer tier.
var edgeTiers = func() []edgeTier {
	tiers := []edgeTier{{flowmodel.BucketWidth, EdgesTable, "Bucket"}, {time.Hour, EdgesHourlyTable, "Hour"}}
	for _, u := range tierUnits {
		tiers = append(tiers, edgeTier{u, EdgesTiersTable, "Start"})
	}
	sort.Slice(tiers, func(i, j int) bool { return tiers[i].unit < tiers[j].unit })
	return tiers
}()

// bucketRange is [from, to) of a tier's time column.
type bucketRange struct{ from, to time.Time }

// tierRead is what a query reads from one tier.
type tierRead struct {
	edgeTier
	ranges []bucketRange
}

// splitTiers splits [from, to) (from truncated to a bucket) among the
// tiers whose unit divides step (all of them for step 0: one sum over
// the range): the coarsest tier takes the whole units inside the range,
// the ends left on either side are split in the same way among the finer
// tiers, and flow_edges takes what is left, by minute. Every bucket of the
// range is in exactly one range of one tier, so none is counted twice or
// lost, and at most two ranges per tier are read, each a few units long
// but the coarsest: a week costs about what an hour does. With a step,
// the tiers used hold no row that would straddle two steps (steps start
// at multiples of step since the epoch too). Tiers with nothing to read
// are left out.
func splitTiers(from, to time.Time, step time.Duration) []tierRead {
	var tiers []tierRead
	for _, t := range edgeTiers {
		if step%t.unit == 0 {
			tiers = append(tiers, tierRead{edgeTier: t})
		}
	}
	var split func(from, to time.Time, n int)
	split = func(from, to time.Time, n int) {
		if !to.After(from) {
			return
		}
		if n == 0 {
			tiers[0].ranges = append(tiers[0].ranges, bucketRange{from, to})
			return
		}
		u := tiers[n].unit
		lo, hi := from.Truncate(u), to.Truncate(u)
		if lo.Before(from) {
			lo = lo.Add(u)
		}
		if !hi.After(lo) {
			split(from, to, n-1)
			return
		}
		tiers[n].ranges = append(tiers[n].ranges, bucketRange{lo, hi})
		split(from, lo, n-1)
		split(hi, to, n-1)
	}
	split(from.UTC().Truncate(flowmodel.BucketWidth), to.UTC(), len(tiers)-1)
	out := tiers[:0]
	for _, t := range tiers {
		if len(t.ranges) > 0 {
			out = append(out, t)
		}
	}
	return out
}

// tableRead is what a query reads from one table: the ranges of the
// tiers it holds, as a condition whose bounds are parameters.
type tableRead struct {
	table, timeCol, where string
}

// readTables is splitTiers by table, in the order of edgeTiers, with the
// ranges' bounds appended to args.
func readTables(from, to time.Time, step time.Duration, args []any) ([]tableRead, []any) {
	var (
		reads []tableRead
		conds = map[string][]string{}
	)
	for _, t := range splitTiers(from, to, step) {
		if _, ok := conds[t.table]; !ok {
			reads = append(reads, tableRead{table: t.table, timeCol: t.timeCol})
		}
		for _, r := range t.ranges {
			f, l := "r"+strconv.Itoa(len(args)), "r"+strconv.Itoa(len(args)+1)
			args = append(args, namedParams(f, r.from.Unix(), l, r.to.Unix())...)
			c := fmt.Sprintf("%s >= toDateTime({%s:Int64}, 'UTC') AND %s < toDateTime({%s:Int64}, 'UTC')", t.timeCol, f, t.timeCol, l)
			if t.table == EdgesTiersTable {
				c = fmt.Sprintf("Unit = %d AND %s", t.unit/time.Second, c)
			}
			conds[t.table] = append(conds[t.table], "("+c+")")
		}
	}
	for i := range reads {
		reads[i].where = "(" + strings.Join(conds[reads[i].table], " OR ") + ")"
	}
	return reads, args
}

// edgeCounters are the counter columns of every edge table, as sum()
// reads them in each.
var edgeCounters = []string{"Requests", "Failed", "MessagesSent", "MessagesReceived", "Retries", "Unpaired",
	"BreakerClosed", "BreakerOpen", "BreakerHalfOpen", "BreakerTransitions"}

// edgeHistogram is a histogram's columns: an array of counts (sumForEach
// states in the tiers) and the sum of the observations.
type edgeHistogram struct {
	bit         Histograms
	counts, sum string
	bounds      []time.Duration
	ofAggregate func(*flowmodel.EdgeAggregate) *flowmodel.Histogram
}

var edgeHistograms = []edgeHistogram{
	{ServerLatencyHistogram, "ServerLatencyBuckets", "ServerLatencySum", flowmodel.LatencyBounds, func(a *flowmodel.EdgeAggregate) *flowmodel.Histogram { return &a.ServerLatency }},
	{ClientLatencyHistogram, "ClientLatencyBuckets", "ClientLatencySum", flowmodel.LatencyBounds, func(a *flowmodel.EdgeAggregate) *flowmodel.Histogram { return &a.ClientLatency }},
	{DelayHistogram, "DelayBuckets", "DelaySum", flowmodel.DelayBounds, func(a *flowmodel.EdgeAggregate) *flowmodel.Histogram { return &a.Delay }},
}

// edgeAggregates sums the edges f selects over [from, to), per step (0: one
// sum over the whole range, with a zero Time), with the histograms h. Rows
// are partial aggregates of every tier splitTiers chose; everything is
// summed in the engine in one round trip. The query is built for what is
// asked (filters, histograms): planning it is a good part of its cost.
func (s *Store) edgeAggregates(ctx context.Context, f EdgeFilter, from, to time.Time, step time.Duration, h Histograms) ([]EdgePoint, error) {
	if !to.After(from) {
		return nil, fmt.Errorf("%w: empty time range %s - %s", ErrInvalidQuery, from, to)
	}
	var (
		filter string
		args   []any
	)
	for _, c := range []struct{ name, value, cond string }{
		{"service", f.Service, "(Client = {service:String} OR Server = {service:String})"},
		{"client", f.Client, "Client = {client:String}"},
		{"server", f.Server, "Server = {server:String}"},
		{"conn", f.ConnectionType, "ConnectionType = {conn:String}"},
	} {
		if err := checkFilter(c.name, c.value); err != nil {
			return nil, err
		}
		if c.value != "" {
			filter += "\n      AND " + c.cond
			args = append(args, namedParams(c.name, c.value)...)
		}
	}
	var hists []edgeHistogram
	for _, eh := range edgeHistograms {
		if h&eh.bit != 0 {
			hists = append(hists, eh)
		}
	}
	if step > 0 {
		args = append(args, namedParams("step", uint32(step/time.Second))...)
	}
	var (
		parts []string
		reads []tableRead
	)
	reads, args = readTables(from, to, step, args)
	for _, t := range reads {
		unit := "toDateTime(0, 'UTC')"
		if step > 0 {
			unit = "toStartOfInterval(" + t.timeCol + ", toIntervalSecond({step:UInt32}), 'UTC')"
		}
		cols := []string{unit + " AS T", "Client", "Server", "ConnectionType", "Destination"}
		if t.table == EdgesTable {
			// rows as stored, summed by the outer query
			cols = append(cols, edgeCounters...)
			for _, eh := range hists {
				cols = append(cols, eh.counts, eh.sum)
			}
			// F and L are named apart from the columns they are computed from
			cols = append(cols, callSeenExprs[0]+" AS F", callSeenExprs[1]+" AS L")
			parts = append(parts, "SELECT "+strings.Join(cols, ", ")+"\n    FROM "+s.l.Name(t.table)+"\n    WHERE "+t.where+filter)
			continue
		}
		for _, c := range edgeCounters {
			cols = append(cols, "sum("+c+") AS "+c)
		}
		for _, eh := range hists {
			cols = append(cols, "sumForEachMerge("+eh.counts+") AS "+eh.counts, "sum("+eh.sum+") AS "+eh.sum)
		}
		cols = append(cols, "min(FirstSeen) AS F", "max(LastSeen) AS L")
		parts = append(parts, "SELECT "+strings.Join(cols, ", ")+"\n    FROM "+s.l.Name(t.table)+"\n    WHERE "+t.where+filter+
			"\n    GROUP BY T, Client, Server, ConnectionType, Destination")
	}
	// Histogram counts come back as text ("[1,2,3]"): clickhouse-go scans
	// an array element by element through reflection, several times
	// slower, and a column per count costs the engine's planner more.
	cols := []string{"T", "Client", "Server", "ConnectionType", "Destination"}
	for _, c := range edgeCounters {
		cols = append(cols, "sum("+c+")")
	}
	for _, eh := range hists {
		cols = append(cols, "toString(sumForEach("+eh.counts+"))", "sum("+eh.sum+")")
	}
	cols = append(cols, "if(min(F) >= "+noCall+", toDateTime64(0, 3, 'UTC'), min(F))", "max(L)")
	q := "SELECT " + strings.Join(cols, ", ") + "\nFROM (\n    " + strings.Join(parts, "\n    UNION ALL\n    ") + `
)
GROUP BY T, Client, Server, ConnectionType, Destination
ORDER BY T, Client, Server, ConnectionType, Destination`
	rows, err := s.conn.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	// An edge has a row per destination (one, "", for all but messaging
	// edges), adjacent in the order asked: they are summed into one point.
	var (
		out         []EdgePoint
		counts      = make([]string, len(hists))
		dest        = make([]any, 0, len(cols))
		destination string
	)
	for rows.Next() {
		p := EdgePoint{EdgeAggregate: flowmodel.EdgeAggregate{
			ServerLatency: flowmodel.Histogram{Bounds: flowmodel.LatencyBounds},
			ClientLatency: flowmodel.Histogram{Bounds: flowmodel.LatencyBounds},
			Delay:         flowmodel.Histogram{Bounds: flowmodel.DelayBounds},
		}}
		e := &p.EdgeAggregate
		dest = append(dest[:0], &p.Time, &e.Client, &e.Server, &e.ConnectionType, &destination, &e.Requests, &e.Failed, &e.MessagesSent, &e.MessagesReceived,
			&e.Retries, &e.Unpaired, &e.Breaker.Closed, &e.Breaker.Open, &e.Breaker.HalfOpen, &e.Breaker.Transitions)
		for i, eh := range hists {
			dest = append(dest, &counts[i], &eh.ofAggregate(e).Sum)
		}
		dest = append(dest, &e.FirstSeen, &e.LastSeen)
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("scan: %w", err)
		}
		for i, eh := range hists {
			hg := eh.ofAggregate(e)
			if hg.Counts, err = parseCounts(counts[i], len(eh.bounds)+1); err != nil {
				return nil, fmt.Errorf("scan %s of %s -> %s: %w", eh.counts, e.Client, e.Server, err)
			}
		}
		e.FirstSeen, e.LastSeen = unlessEpoch(e.FirstSeen), unlessEpoch(e.LastSeen)
		if step == 0 {
			p.Time = time.Time{}
		} else {
			p.Time = p.Time.UTC()
		}
		e.AddDestination(destination, e.MessagesSent, e.MessagesReceived)
		if n := len(out); n > 0 && out[n-1].sameEdge(&p) {
			out[n-1].Add(e)
			continue
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// sameEdge says whether q is of p's step and edge.
func (p *EdgePoint) sameEdge(q *EdgePoint) bool {
	return p.Time.Equal(q.Time) && p.Client == q.Client && p.Server == q.Server && p.ConnectionType == q.ConnectionType
}

// parseCounts reads an array of counts as the engine writes it as text,
// "[1,2,3]", into n counts (more is an error, fewer are padded with 0).
func parseCounts(s string, n int) ([]uint64, error) {
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	out := make([]uint64, n)
	for i := 0; s != ""; i++ {
		v, rest, _ := strings.Cut(s, ",")
		if i == n {
			return nil, fmt.Errorf("more than %d counts", n)
		}
		c, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("count %q: %w", v, err)
		}
		out[i], s = c, rest
	}
	return out, nil
}
