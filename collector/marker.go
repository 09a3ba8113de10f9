package collector

import (
	"strconv"
	"strings"
)

// segRange is the offsets [start, end] of one partition in a batch.
type segRange struct {
	partition  int
	start, end int64
}

// batchRanges are a batch's ranges, one per partition, by ascending
// partition. They name the batch: its pending marker and its
// insert_deduplication_token are made from them alone.
type batchRanges []segRange

const (
	markerPrefix   = "flowlens/v1 pending " // one partition: "start-end"
	markerPrefixV2 = "flowlens/v2 pending " // several: "p:start-end,p:start-end"
	// maxMarkerBytes keeps a marker under Kafka's offset.metadata.max.bytes
	// (4096 by default): a batch spans as many partitions as fit.
	maxMarkerBytes = 4000
)

// marker is the commit metadata of every partition of the batch while it
// is being stored. A batch of one partition keeps the first version's form,
// which collectors of that version read too.
func (b batchRanges) marker() string {
	if len(b) == 1 {
		return markerPrefix + strconv.FormatInt(b[0].start, 10) + "-" + strconv.FormatInt(b[0].end, 10)
	}
	return markerPrefixV2 + b.list()
}

// token is the batch's insert_deduplication_token. For a batch of one
// partition it is the first version's "flowlens:<topic>:<p>:<start>-<end>".
func (b batchRanges) token(topic string) string {
	return "flowlens:" + topic + ":" + b.list()
}

func (b batchRanges) list() string {
	var sb strings.Builder
	for i, r := range b {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(r.String())
	}
	return sb.String()
}

func (r segRange) String() string {
	return strconv.Itoa(r.partition) + ":" + strconv.FormatInt(r.start, 10) + "-" + strconv.FormatInt(r.end, 10)
}

// markerBytes is the length of a v2 marker entry for r (with its comma).
func (r segRange) markerBytes() int { return len(r.String()) + 1 }

// parseMarker reads the commit metadata of partition, committed at
// committed: the pending batch it names, or nil. The batch must start at
// committed on that partition, or the marker is stale.
func parseMarker(meta string, partition int, committed int64) batchRanges {
	if rest, ok := strings.CutPrefix(meta, markerPrefix); ok {
		start, end, ok := parseRange(rest)
		if !ok || start != committed {
			return nil
		}
		return batchRanges{{partition, start, end}}
	}
	rest, ok := strings.CutPrefix(meta, markerPrefixV2)
	if !ok {
		return nil
	}
	var b batchRanges
	own := false
	for _, item := range strings.Split(rest, ",") {
		p, rng, ok := strings.Cut(item, ":")
		if !ok {
			return nil
		}
		part, err := strconv.Atoi(p)
		start, end, ok := parseRange(rng)
		if err != nil || !ok || (len(b) > 0 && part <= b[len(b)-1].partition) {
			return nil
		}
		if part == partition {
			if start != committed {
				return nil
			}
			own = true
		}
		b = append(b, segRange{part, start, end})
	}
	if !own {
		return nil
	}
	return b
}

func parseRange(s string) (start, end int64, ok bool) {
	a, z, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(z, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || end < start {
		return 0, 0, false
	}
	return start, end, true
}
