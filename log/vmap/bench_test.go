package vmap

import (
	"context"
	"fmt"
	"math/bits"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/state"
)

// The benchmarks run on a map of 10^6 keys in a MemoryStore, built once.
//
//	go test -run '^$' -bench . -benchtime 20x -cpu 1,2 ./log/vmap/

const (
	benchKeys  = 1_000_000
	benchBatch = 4096
)

var bench struct {
	once  sync.Once
	store *MemoryStore
	keys  []Key
	gen   *keyGen
}

// credentialValue returns a credential value, the size of most values.
func credentialValue(i uint64) []byte {
	b, _ := (&CredentialValue{Status: state.StatusActive, LastIndex: i, IssueIndex: i}).Marshal()
	return b
}

func benchMap(b *testing.B) (*MemoryStore, []Key, *keyGen) {
	bench.once.Do(func() {
		bench.gen = newKeyGen(1, false)
		ups := make([]Update, benchKeys)
		for i := range ups {
			ups[i] = Update{Key: bench.gen.key(), Value: credentialValue(uint64(i))}
			bench.keys = append(bench.keys, ups[i].Key)
		}
		bench.store = NewMemoryStore()
		d, err := NewTree(bench.store).Update(context.Background(), ups)
		if err != nil {
			panic(err)
		}
		if err := bench.store.WriteNodes(context.Background(), d.Writes); err != nil {
			panic(err)
		}
		runtime.GC() // not to charge the build's garbage to the first benchmark
	})
	return bench.store, bench.keys, bench.gen
}

// BenchmarkUpdate applies batches of 4096 updates to the 10^6-key map,
// writes to the store included: new keys (the log's common case: issues,
// new subjects) and new values for existing keys (status changes). The
// batches are drawn before the clock starts; the inserted keys are
// removed after it stops, so that every benchmark sees the same map.
func BenchmarkUpdate(b *testing.B) {
	s, keys, g := benchMap(b)
	ctx := context.Background()
	tree := NewTree(s)
	run := func(b *testing.B, ups []Update) {
		d, err := tree.Update(ctx, ups)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.WriteNodes(ctx, d.Writes); err != nil {
			b.Fatal(err)
		}
	}
	b.Run(fmt.Sprintf("insert/batch=%d", benchBatch), func(b *testing.B) {
		batches := make([][]Update, b.N)
		for i := range batches {
			for j := range benchBatch {
				batches[i] = append(batches[i], Update{Key: g.key(), Value: credentialValue(uint64(j))})
			}
		}
		b.ResetTimer()
		for _, ups := range batches {
			run(b, ups)
		}
		b.StopTimer()
		b.ReportMetric(float64(benchBatch*b.N)/b.Elapsed().Seconds(), "updates/s")
		for _, ups := range batches {
			for i := range ups {
				ups[i].Value = nil
			}
			run(b, ups)
		}
	})
	b.Run(fmt.Sprintf("overwrite/batch=%d", benchBatch), func(b *testing.B) {
		batches := make([][]Update, b.N)
		for i := range batches {
			seen := make(map[Key]bool)
			for len(batches[i]) < benchBatch {
				k := keys[g.rng.IntN(len(keys))]
				if !seen[k] {
					seen[k] = true
					batches[i] = append(batches[i], Update{Key: k, Value: credentialValue(g.rng.Uint64() >> 1)})
				}
			}
		}
		b.ResetTimer()
		for _, ups := range batches {
			run(b, ups)
		}
		b.ReportMetric(float64(benchBatch*b.N)/b.Elapsed().Seconds(), "updates/s")
	})
}

// BenchmarkProve proves present and absent keys in the 10^6-key map. It
// reports the mean proof size over 10^4 random keys, the same in every
// run.
func BenchmarkProve(b *testing.B) {
	s, keys, _ := benchMap(b)
	tree := NewTree(s)
	for _, present := range []bool{true, false} {
		b.Run(fmt.Sprintf("present=%v", present), func(b *testing.B) {
			g := newKeyGen(7, false)
			pick := func() Key {
				if present {
					return keys[g.rng.IntN(len(keys))]
				}
				return g.key()
			}
			prove := func(k Key) int {
				p, _, err := tree.Prove(context.Background(), k)
				if err != nil {
					b.Fatal(err)
				}
				enc, err := p.Marshal()
				if err != nil {
					b.Fatal(err)
				}
				return len(enc)
			}
			total := 0
			for range sizeSamples {
				total += prove(pick())
			}
			b.ResetTimer()
			for b.Loop() {
				prove(pick())
			}
			b.ReportMetric(float64(total)/sizeSamples, "bytes/proof")
		})
	}
}

// sizeSamples is the number of keys over which mean proof sizes are taken.
const sizeSamples = 10_000

// BenchmarkVerify verifies membership proofs of the 10^6-key map, and
// credential status proofs (membership plus decoding the value).
func BenchmarkVerify(b *testing.B) {
	s, _, g := benchMap(b)
	ctx := context.Background()
	// Credentials of one issuer, among the 10^6 keys, so that their
	// proofs have the map's depth.
	var ids []entry.Hash
	ups := make([]Update, 256)
	for i := range ups {
		id := entry.Hash(g.uniform())
		ids = append(ids, id)
		ups[i] = Update{Key: CredentialKey("id.example.gov", id), Value: credentialValue(uint64(i))}
	}
	scratch := &overlayStore{base: s, nodes: map[NodeID]Node{}}
	d, err := NewTree(scratch).Update(ctx, ups)
	if err != nil {
		b.Fatal(err)
	}
	scratch.write(d.Writes)
	type claim struct {
		id           entry.Hash
		value, proof []byte
	}
	var claims []claim
	for i, id := range ids {
		p, v, err := NewTree(scratch).Prove(ctx, ups[i].Key)
		if err != nil || v == nil {
			b.Fatal(err)
		}
		enc, _ := p.Marshal()
		claims = append(claims, claim{id, v, enc})
	}
	b.Run("membership", func(b *testing.B) {
		i := 0
		for b.Loop() {
			c := claims[i%len(claims)]
			if err := VerifyMembership(d.Root, CredentialKey("id.example.gov", c.id), c.value, c.proof); err != nil {
				b.Fatal(err)
			}
			i++
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifications/s")
	})
	b.Run("credential-status", func(b *testing.B) {
		i := 0
		for b.Loop() {
			c := claims[i%len(claims)]
			if _, err := VerifyCredentialStatus(d.Root, "id.example.gov", c.id, state.StatusActive, c.value, c.proof); err != nil {
				b.Fatal(err)
			}
			i++
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifications/s")
	})
}

// overlayStore reads writes of its own over a base store, so that a
// benchmark can change the shared map without changing it for others.
type overlayStore struct {
	base  NodeReader
	nodes map[NodeID]Node
}

func (o *overlayStore) ReadNodes(ctx context.Context, ids []NodeID) ([]Node, error) {
	out, err := o.base.ReadNodes(ctx, ids)
	if err != nil {
		return nil, err
	}
	for i, id := range ids {
		if n, ok := o.nodes[id]; ok {
			out[i] = n
		}
	}
	return out, nil
}

func (o *overlayStore) write(ws []NodeWrite) {
	for _, w := range ws {
		o.nodes[w.ID] = w.Node
	}
}

// proofSizeOf returns the size of the proof of key (one of keys, which
// are sorted) from the key set alone: the sibling at level i is not empty
// iff some key starts with key's first i bits followed by the other bit
// at i, and the path ends one level below the longest prefix key shares
// with another key.
func proofSizeOf(keys []Key, key Key) int {
	n, _ := slices.BinarySearchFunc(keys, key, Key.Compare)
	lcp := func(a, b Key) int {
		for i := range a {
			if x := a[i] ^ b[i]; x != 0 {
				return 8*i + bits.LeadingZeros8(x)
			}
		}
		return KeyBits
	}
	depth := 0
	if n > 0 {
		depth = lcp(keys[n-1], key) + 1
	}
	if n+1 < len(keys) {
		depth = max(depth, lcp(keys[n+1], key)+1)
	}
	size := proofHeaderSize
	for i := range depth {
		flipped := key
		flipped[i/8] ^= 0x80 >> (i % 8)
		sib := PathID(flipped, i+1)
		j, _ := slices.BinarySearchFunc(keys, sib.Prefix, Key.Compare)
		if j < len(keys) && sib.Contains(keys[j]) {
			size += 32
		}
	}
	return size
}

func TestProofSizeModel(t *testing.T) {
	g := newKeyGen(5, true)
	s, m := NewMemoryStore(), refMap{}
	apply(t, s, m, g.randomBatch(m, 3000))
	keys := sortedKeys(m)
	for _, k := range keys[:300] {
		p, _, err := NewTree(s).Prove(context.Background(), k)
		if err != nil {
			t.Fatal(err)
		}
		enc, _ := p.Marshal()
		if got := proofSizeOf(keys, k); got != len(enc) {
			t.Fatalf("model says %d bytes for the proof of %s, Prove gives %d", got, k, len(enc))
		}
	}
}

func sortedKeys(m refMap) []Key {
	keys := make([]Key, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, Key.Compare)
	return keys
}

// BenchmarkProofSize reports the mean membership proof size over 10^4
// keys in maps of 10^6 and 10^7 random keys, computed from the sorted key
// set (checked against Prove by TestProofSizeModel), without building the
// trees. The time per operation is that of the computation, of no
// interest.
func BenchmarkProofSize(b *testing.B) {
	for _, n := range []int{1_000_000, 10_000_000} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			g := newKeyGen(uint64(n), false)
			keys := make([]Key, n)
			for i := range keys {
				keys[i] = g.uniform()
			}
			slices.SortFunc(keys, Key.Compare)
			total := 0
			for range sizeSamples {
				total += proofSizeOf(keys, keys[g.rng.IntN(n)])
			}
			b.ResetTimer()
			for b.Loop() {
				proofSizeOf(keys, keys[g.rng.IntN(n)])
			}
			b.ReportMetric(float64(total)/sizeSamples, "bytes/proof")
		})
	}
}
