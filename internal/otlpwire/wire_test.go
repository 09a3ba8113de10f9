package otlpwire

import (
	"bytes"
	"errors"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

func TestNext(t *testing.T) {
	long := bytes.Repeat([]byte{'x'}, 300)
	tests := []struct {
		name string
		in   []byte
		want Field
		rest int // bytes left after the field
		bad  bool
	}{
		{name: "one-byte string", in: protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "ab"),
			want: Field{Num: 1, Type: protowire.BytesType, V: []byte("ab")}},
		{name: "long string", in: protowire.AppendBytes(protowire.AppendTag(nil, 5, protowire.BytesType), long),
			want: Field{Num: 5, Type: protowire.BytesType, V: long}},
		{name: "varint", in: protowire.AppendVarint(protowire.AppendTag(nil, 3, protowire.VarintType), 1<<40),
			want: Field{Num: 3, Type: protowire.VarintType, X: 1 << 40}},
		{name: "fixed64 and rest", in: append(protowire.AppendFixed64(protowire.AppendTag(nil, 7, protowire.Fixed64Type), 42), 1, 2),
			want: Field{Num: 7, Type: protowire.Fixed64Type, X: 42}, rest: 2},
		{name: "fixed32", in: protowire.AppendFixed32(protowire.AppendTag(nil, 16, protowire.Fixed32Type), 9),
			want: Field{Num: 16, Type: protowire.Fixed32Type, X: 9}},
		{name: "big field number", in: protowire.AppendVarint(protowire.AppendTag(nil, 1000, protowire.VarintType), 1),
			want: Field{Num: 1000, Type: protowire.VarintType, X: 1}},
		// pdata keeps the low bits of a ten-byte varint whatever its last byte
		{name: "ten-byte varint, last byte over 1", in: []byte{0x18, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x7f},
			want: Field{Num: 3, Type: protowire.VarintType, X: 1 << 63}},
		// pdata truncates the field number to int32: 2^32+1 reads as 1
		{name: "field number truncated", in: append(protowire.AppendVarint(nil, (1<<32+1)<<3|uint64(protowire.VarintType)), 5),
			want: Field{Num: 1, Type: protowire.VarintType, X: 5}},
		// a group "ends" after its first non-group field, as in pdata
		{name: "group", in: []byte{0x0b, 0x10, 0x01, 0x0c},
			want: Field{Num: 1, Type: protowire.StartGroupType}, rest: 1},
		{name: "nested group", in: []byte{0x0b, 0x13, 0x14, 0x0c, 0x08, 0x01},
			want: Field{Num: 1, Type: protowire.StartGroupType}, rest: 2},
		{name: "eleven-byte varint", in: []byte{0x18, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, bad: true},
		{name: "field 0", in: []byte{0x00, 0x01}, bad: true},
		{name: "negative field number", in: append(protowire.AppendVarint(nil, (1<<31)<<3), 5), bad: true},
		{name: "truncated length", in: []byte{0x0a, 0x05, 'a'}, bad: true},
		{name: "truncated fixed64", in: []byte{0x39, 1, 2, 3}, bad: true},
		{name: "truncated varint", in: []byte{0x18, 0x80}, bad: true},
		{name: "wire type 6", in: []byte{0x0e, 0x01}, bad: true},
		{name: "lone end group", in: []byte{0x0c}, bad: true},
		{name: "group closed at the end", in: []byte{0x0b, 0x0c}, bad: true},
		{name: "empty", in: nil, bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, rest, err := Next(tt.in)
			if tt.bad {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("Next = %+v, %v; want ErrMalformed", f, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.Num != tt.want.Num || f.Type != tt.want.Type || f.X != tt.want.X || !bytes.Equal(f.V, tt.want.V) {
				t.Errorf("Next = %+v, want %+v", f, tt.want)
			}
			if len(rest) != tt.rest {
				t.Errorf("rest = %d bytes, want %d", len(rest), tt.rest)
			}
		})
	}
}

func TestEach(t *testing.T) {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, "k")
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	b = protowire.AppendVarint(b, 300)
	var got []protowire.Number
	err := Each(b, func(num protowire.Number, _ protowire.Type, _ []byte, _ uint64) error {
		got = append(got, num)
		return nil
	})
	if err != nil || len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Fatalf("Each: %v %v", got, err)
	}
	stop := errors.New("stop")
	if err := Each(b, func(protowire.Number, protowire.Type, []byte, uint64) error { return stop }); err != stop {
		t.Fatalf("Each did not return fn's error: %v", err)
	}
	if err := Each(b[:len(b)-1], func(protowire.Number, protowire.Type, []byte, uint64) error { return nil }); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Each on truncated input: %v", err)
	}
}

// FuzzNext: never panics, always makes progress, and agrees with protowire
// on the inputs protowire frames (no groups, canonical varints).
func FuzzNext(f *testing.F) {
	f.Add([]byte{0x0a, 0x02, 'a', 'b', 0x10, 0x01})
	f.Add([]byte{0x0b, 0x13, 0x14, 0x0c, 0x08, 0x01})
	f.Add([]byte{0x39, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Fuzz(func(t *testing.T, b []byte) {
		for len(b) > 0 {
			if num, v, n := ReadShortBytes(b); n > 0 {
				g, m := Read(b)
				if m != n || g.Num != num || g.Type != protowire.BytesType || !bytes.Equal(g.V, v) {
					t.Fatalf("ReadShortBytes = %d %x %d, Read %+v %d on %x", num, v, n, g, m, b)
				}
			}
			fl, rest, err := Next(b)
			num, typ, n := protowire.ConsumeTag(b)
			var m int
			if n >= 0 && typ != protowire.StartGroupType && typ != protowire.EndGroupType {
				m = protowire.ConsumeFieldValue(num, typ, b[n:])
			}
			if err != nil {
				if n >= 0 && m >= 0 && typ != protowire.StartGroupType && typ != protowire.EndGroupType {
					t.Fatalf("Next refused a field protowire reads: %x", b)
				}
				return
			}
			if len(rest) >= len(b) {
				t.Fatalf("no progress on %x", b)
			}
			if n >= 0 && m >= 0 && typ != protowire.StartGroupType && (fl.Num != num || fl.Type != typ || len(rest) != len(b)-n-m) {
				t.Fatalf("Next = %+v (rest %d), protowire %d/%d (rest %d) on %x", fl, len(rest), num, typ, len(b)-n-m, b)
			}
			b = rest
		}
	})
}
