package witnessclient_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"

	"github.com/credlog/credlog/log/storage"
	"github.com/credlog/credlog/log/tiles"
	"github.com/credlog/credlog/log/witnessclient"
	"github.com/credlog/credlog/log/witnessclient/policy"
)

// memTiles is a tile store fed by tiles.Builder, as the sequencer feeds
// storage.
type memTiles map[tiles.TileID][]byte

func (m memTiles) ReadTile(_ context.Context, level, index uint64) ([]byte, error) {
	t, ok := m[tiles.TileID{Level: level, Index: index}]
	if !ok {
		return nil, storage.ErrNotFound
	}
	return t, nil
}

// TestTileProofs checks the proofs built from tiles, grown in batches
// past the sizes proved, against the reference implementation.
func TestTileProofs(t *testing.T) {
	b, err := tiles.NewBuilder(0, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	store := memTiles{}
	ref := testonly.New(rfc6962.DefaultHasher)
	for _, n := range []int{1, 255, 1, 300, 700, 100} {
		var batch [][]byte
		for range n {
			e := fmt.Appendf(nil, "entry %d", ref.Size())
			batch = append(batch, e)
			ref.AppendData(e)
		}
		u, err := b.Append(batch)
		if err != nil {
			t.Fatal(err)
		}
		for id, tile := range u.Tiles {
			store[id] = tile
		}
	}
	src := witnessclient.TileProofs(store)
	for _, c := range [][2]uint64{{1, 2}, {1, 1357}, {255, 256}, {256, 257}, {300, 1000}, {513, 1356}, {1356, 1357}, {7, 300}} {
		got, err := src.ConsistencyProof(t.Context(), c[0], c[1])
		if err != nil {
			t.Fatalf("%v: %v", c, err)
		}
		want, err := ref.ConsistencyProof(c[0], c[1])
		if err != nil {
			t.Fatal(err)
		}
		if !slices.EqualFunc(got, want, slices.Equal) {
			t.Errorf("%v: proof differs from the reference", c)
		}
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, c[0], c[1], got, ref.HashAt(c[0]), ref.HashAt(c[1])); err != nil {
			t.Errorf("%v: %v", c, err)
		}
	}
	if _, err := src.ConsistencyProof(t.Context(), 1, 2000); err == nil {
		t.Error("proof to a size beyond the stored tiles")
	}
}

func TestNewRejects(t *testing.T) {
	l := newTestLog(t)
	other := newTestLog(t)
	w := "witness w1 " + wk + " https://w1.example/\n"
	for _, tc := range []struct{ name, policy, err string }{
		{"another log", "log " + other.vkey + "\n" + w + "quorum w1\n", "the policy lists 1 log(s), but not this log's key"},
		{"quorum without URL", "witness w1 " + wk + "\nquorum w1\n", `quorum "w1" cannot be met by the witnesses that have URLs ()`},
		{"group without URLs", w + "witness w2 " + wk2 + "\ngroup g all w1 w2\nquorum g\n", `quorum "g" cannot be met by the witnesses that have URLs (w1)`},
	} {
		p, err := policy.Parse([]byte(tc.policy))
		if err != nil {
			t.Fatal(err)
		}
		_, err = witnessclient.New(witnessclient.Config{Policy: p, LogKey: l.vkey, Proofs: l})
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.err)
		}
	}
	p, _ := policy.Parse([]byte(w + "quorum w1\n"))
	if _, err := witnessclient.New(witnessclient.Config{Policy: p, LogKey: l.vkey}); err == nil {
		t.Error("no proof source accepted")
	}
	if _, err := witnessclient.New(witnessclient.Config{Policy: p, LogKey: "garbage", Proofs: l}); err == nil {
		t.Error("bad log key accepted")
	}
	// A policy that lists this log among others, and "quorum none".
	p, _ = policy.Parse([]byte("log " + other.vkey + "\nlog " + l.vkey + "\nquorum none\n"))
	c, err := witnessclient.New(witnessclient.Config{Policy: p, LogKey: l.vkey})
	if err != nil {
		t.Fatal(err)
	}
	l.growTo(2)
	if cp, err := c.Publish(t.Context(), 2, l.checkpoint(2)); err != nil || !bytes.Equal(cp, l.checkpoint(2)) {
		t.Fatalf("quorum none: %q, %v", cp, err)
	}
	if _, err := c.Publish(t.Context(), 3, l.checkpoint(2)); err == nil {
		t.Error("a checkpoint of another size accepted")
	}
	if _, err := c.Publish(t.Context(), 2, other.checkpoint(0)); err == nil {
		t.Error("another log's checkpoint accepted")
	}
}

const (
	wk  = "w1.example+7ac47b4e+BBv5dUkuyDWd3Bx0j+fig0BR3QOnFa3MJ8WcjWyml9Ed"
	wk2 = "w2.example+63670701+BHnW+CrviUFCm3q/GOrzYVTgy+yNNrtne9NzAFDsjNjB"
)
