package pairing

import (
	"encoding/binary"

	"github.com/flowlens/flowlens/flowgraph/extract"
)

// The index is an open-addressing hash table (linear probing, backward-shift
// deletion) from (class, trace ID, span ID) to ring slots. It allows several
// entries under one key (a producer consumed by several consumer groups).
// Cells hold slot+1 in the low 32 bits (0 is empty) and the low 32 bits of
// the key's hash in the high ones, so a probe rejects other keys and finds a
// cell's home without touching the ring. The table is sized to at least twice the
// ring, so probe chains stay short and it never fills.

func hashKey(seed uint64, class uint8, t *extract.TraceID, s *extract.SpanID) uint64 {
	a := binary.LittleEndian.Uint64(t[0:8])
	b := binary.LittleEndian.Uint64(t[8:16])
	c := binary.LittleEndian.Uint64(s[:])
	h := (a ^ seed ^ uint64(class)) * 0x9E3779B97F4A7C15
	h = (h ^ (h >> 29) ^ b) * 0xBF58476D1CE4E5B9
	h = (h ^ (h >> 32) ^ c) * 0x94D049BB133111EB
	return h ^ (h >> 31)
}

func nextPow2(n int) int {
	p := 1
	for p < n {
		p <<= 1
	}
	return p
}

// indexInsert puts slot into the first empty cell of hash h's chain.
func (st *Store) indexInsert(h uint64, slot uint32) {
	i := h & st.mask
	for st.index[i] != 0 {
		i = (i + 1) & st.mask
	}
	st.index[i] = cell(h, slot)
}

func cell(h uint64, slot uint32) uint64 { return h<<32 | uint64(slot+1) }

// tagMatches reports whether cell c may hold a key of hash h.
func tagMatches(c, h uint64) bool { return c>>32 == h&0xffffffff }

// cellSlot is the ring slot of a non-empty cell.
func cellSlot(c uint64) uint32 { return uint32(c) - 1 }

// indexRemove deletes the cell pointing at slot (whose hash is h).
func (st *Store) indexRemove(h uint64, slot uint32) {
	i := h & st.mask
	want := cell(h, slot)
	for st.index[i] != want {
		if st.index[i] == 0 {
			return // not indexed (cannot happen; defensive)
		}
		i = (i + 1) & st.mask
	}
	// backward-shift deletion keeps every chain contiguous
	j := i
	for {
		j = (j + 1) & st.mask
		c := st.index[j]
		if c == 0 {
			break
		}
		home := (c >> 32) & st.mask
		var stays bool
		if i <= j {
			stays = i < home && home <= j
		} else {
			stays = i < home || home <= j
		}
		if stays {
			continue
		}
		st.index[i] = c
		i = j
	}
	st.index[i] = 0
}
