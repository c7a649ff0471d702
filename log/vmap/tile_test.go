package vmap

import "testing"

func TestMemoryStoreTiles(t *testing.T) {
	k := Key{0xde, 0xad, 0xbe, 0xef, 31: 0x7f}
	seen := make(map[NodeID]map[int]bool)
	for d := 0; d <= KeyBits; d++ {
		id := PathID(k, d)
		root, i := locate(id)
		if i < 0 || i > 254 || root.Depth%8 != 0 || !root.Contains(k) || position(root, i) != id {
			t.Fatalf("depth %d: tile %s, number %d, back to %s", d, root, i, position(root, i))
		}
		if seen[root] == nil {
			seen[root] = make(map[int]bool)
		}
		if seen[root][i] {
			t.Fatalf("depth %d: number %d of tile %s used twice", d, i, root)
		}
		seen[root][i] = true
	}
}
