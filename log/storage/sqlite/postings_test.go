package sqlite

import (
	"errors"
	"slices"
	"testing"
)

func TestParseIndices(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want []uint64
		err  bool
	}{
		{"empty", nil, nil, false},
		{"one", []byte{0x05}, []uint64{5}, false},
		{"two bytes", []byte{0x00, 0xac, 0x02}, []uint64{0, 300}, false},
		{"truncated varint", []byte{0x05, 0x80}, nil, true},
		{"overflowing varint", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, nil, true},
		{"repeated index", []byte{0x05, 0x05}, nil, true},
		{"descending", []byte{0x07, 0x05}, nil, true},
	} {
		got, err := parseIndices(tc.in)
		if tc.err {
			if !errors.Is(err, errIndices) {
				t.Errorf("%s: parseIndices = %v, %v; want an error", tc.name, got, err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%s: parseIndices = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
	list := []uint64{0, 1, 127, 128, 1 << 20, 1<<40 + 3, 1<<64 - 1}
	if got, err := parseIndices(appendIndices(nil, list)); err != nil || !slices.Equal(got, list) {
		t.Errorf("round trip = %v, %v; want %v", got, err, list)
	}
}

// FuzzParseIndices: a list parses into strictly ascending indices, or an
// error wrapping errIndices; what parses, encoded again and extended,
// parses to the same indices and the extension.
func FuzzParseIndices(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0x00, 0xac, 0x02, 0xff, 0x7f})
	f.Add([]byte{0x05, 0x80})
	f.Add([]byte{0x80, 0x00, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := parseIndices(b)
		if err != nil {
			if !errors.Is(err, errIndices) {
				t.Fatalf("error %v does not wrap errIndices", err)
			}
			return
		}
		for i := 1; i < len(got); i++ {
			if got[i] <= got[i-1] {
				t.Fatalf("indices %v not ascending", got)
			}
		}
		more := got
		if len(got) == 0 || got[len(got)-1] < 1<<64-1 {
			next := uint64(0)
			if len(got) > 0 {
				next = got[len(got)-1] + 1
			}
			more = append(slices.Clone(got), next)
		}
		again, err := parseIndices(appendIndices(nil, more))
		if err != nil || !slices.Equal(again, more) {
			t.Fatalf("re-encoded %v parses to %v, %v", more, again, err)
		}
	})
}
