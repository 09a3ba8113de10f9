// Package ledger reconciles the loss ledger: per host, kind and interval,
// the records its agent accepted, those Kafka acknowledged and those the
// agent dropped (the agents' reports) against those the collectors stored
// and dead-lettered (counted per batch, exactly once). An interval is
// judged once it is closed: its end plus a grace for the pipeline's lag
// has passed.
//
//	missing           = accepted - dropped - stored - dead-lettered
//	lost before Kafka = accepted - acked - dropped   (the agent's buffer)
//	lost after Kafka  = acked - stored - dead-lettered (Kafka, the collector)
//
// A negative difference is shown as extra: stored more than the agent
// reported, as after an agent crash (records sent again from its buffer,
// or its counts since its last report lost).
package ledger

import (
	"context"
	"sort"
	"time"

	"github.com/flowlens/flowlens/storage"
)

// DefaultGrace is how long after its end an interval is left open, for
// the records of its last seconds to reach storage and its agent's last
// report to arrive (the agent reports every 10s; the collector stores
// within a few seconds when it keeps up).
const DefaultGrace = 2 * time.Minute

// Reader is the storage the ledger is read from (storage.Store).
type Reader interface {
	Ledger(ctx context.Context, from, to time.Time, host string) ([]storage.LedgerRow, error)
}

// Interval is one host's records of one kind accepted in one interval.
type Interval struct {
	Start   time.Time `json:"start"`
	Seconds int       `json:"seconds"`
	Kind    string    `json:"kind"`
	Counts
	// Closed: its end plus the grace has passed, and it is judged.
	Closed bool `json:"closed"`
	// Reported: an agent report arrived for it (without one, only what
	// was stored is known).
	Reported bool `json:"reported"`
	// Runs is the number of agent runs that reported it (more than one:
	// an agent restarted and sent records the previous run accepted).
	Runs int `json:"runs,omitempty"`
}

// Counts are the ledger's counts and what they say.
type Counts struct {
	Accepted     uint64 `json:"accepted"`
	Acked        uint64 `json:"acked"`
	Dropped      uint64 `json:"dropped"`
	Stored       uint64 `json:"stored"`
	DeadLettered uint64 `json:"dead_lettered"`
	// Missing is what neither storage nor the dead-letter topic got of the
	// accepted records, minus what the agent dropped on purpose; Extra is
	// the other way round. At most one of them is non-zero per interval.
	Missing uint64 `json:"missing"`
	Extra   uint64 `json:"extra"`
	// LostBeforeKafka: accepted but never acknowledged by Kafka (nor
	// dropped): the agent's buffer lost them. LostAfterKafka: acknowledged
	// but neither stored nor dead-lettered.
	LostBeforeKafka uint64 `json:"lost_before_kafka"`
	LostAfterKafka  uint64 `json:"lost_after_kafka"`
}

func (c *Counts) add(o Counts) {
	c.Accepted += o.Accepted
	c.Acked += o.Acked
	c.Dropped += o.Dropped
	c.Stored += o.Stored
	c.DeadLettered += o.DeadLettered
	c.Missing += o.Missing
	c.Extra += o.Extra
	c.LostBeforeKafka += o.LostBeforeKafka
	c.LostAfterKafka += o.LostAfterKafka
}

// Host is one host's ledger over the range.
type Host struct {
	Name string `json:"name"`
	// Closed sums the closed intervals; Open counts the others.
	Closed Counts `json:"closed"`
	Open   int    `json:"open_intervals"`
	// Intervals, oldest first, kinds in order.
	Intervals []Interval `json:"intervals"`
}

// Report is the ledger of a range.
type Report struct {
	From  time.Time     `json:"from"`
	To    time.Time     `json:"to"`
	Grace time.Duration `json:"grace_ns"`
	Hosts []Host        `json:"hosts"`
	// Missing and Extra sum the hosts' closed intervals.
	Missing uint64 `json:"missing"`
	Extra   uint64 `json:"extra"`
}

// Read reads the ledger of the intervals starting in [from, to) and
// judges those closed at now.
func Read(ctx context.Context, r Reader, from, to, now time.Time, host string, grace time.Duration) (Report, error) {
	rows, err := r.Ledger(ctx, from, to, host)
	if err != nil {
		return Report{}, err
	}
	rep := Reconcile(rows, now, grace)
	rep.From, rep.To = from, to
	return rep, nil
}

// Reconcile judges rows (as storage.Ledger returns them) at now.
func Reconcile(rows []storage.LedgerRow, now time.Time, grace time.Duration) Report {
	rep := Report{Grace: grace, Hosts: []Host{}}
	// the interval length of a host whose agent never reported one of
	// its intervals: the length it reported for the others
	seconds := map[string]int{}
	for _, r := range rows {
		seconds[r.Host] = max(seconds[r.Host], int(r.Seconds))
	}
	byHost := map[string]*Host{}
	for _, r := range rows {
		h := byHost[r.Host]
		if h == nil {
			h = &Host{Name: r.Host}
			byHost[r.Host] = h
		}
		iv := Interval{Start: r.Interval.UTC(), Seconds: int(r.Seconds), Kind: r.Kind, Reported: r.Runs > 0, Runs: int(r.Runs),
			Counts: Counts{Accepted: r.Accepted, Acked: r.Acked, Dropped: r.Dropped, Stored: r.Stored, DeadLettered: r.DeadLettered}}
		length := iv.Seconds
		if length == 0 {
			length = max(seconds[r.Host], 60)
		}
		iv.Closed = !now.Before(iv.Start.Add(time.Duration(length)*time.Second + grace))
		c := &iv.Counts
		if iv.Reported {
			c.Missing, c.Extra = diff(c.Accepted, c.Dropped+c.Stored+c.DeadLettered)
			c.LostBeforeKafka, _ = diff(c.Accepted, c.Acked+c.Dropped)
			c.LostAfterKafka, _ = diff(c.Acked, c.Stored+c.DeadLettered)
		} else {
			// stored, and no report: the agent's counts are lost (it
			// crashed before reporting) or it runs without the ledger
			c.Extra = c.Stored + c.DeadLettered
		}
		if iv.Closed {
			h.Closed.add(*c)
		} else {
			h.Open++
		}
		h.Intervals = append(h.Intervals, iv)
	}
	for _, h := range byHost {
		sort.SliceStable(h.Intervals, func(i, j int) bool {
			a, b := h.Intervals[i], h.Intervals[j]
			if !a.Start.Equal(b.Start) {
				return a.Start.Before(b.Start)
			}
			return a.Kind < b.Kind
		})
		rep.Hosts = append(rep.Hosts, *h)
		rep.Missing += h.Closed.Missing
		rep.Extra += h.Closed.Extra
	}
	sort.Slice(rep.Hosts, func(i, j int) bool { return rep.Hosts[i].Name < rep.Hosts[j].Name })
	return rep
}

// diff is a-b split into its positive and negative parts.
func diff(a, b uint64) (pos, neg uint64) {
	if a >= b {
		return a - b, 0
	}
	return 0, b - a
}
