// Command storepattern measures one storage structure against another on
// the write pattern of credlog's log: for each event, a point read and an
// insert at a random key in each of three tables (the leaf-hash index,
// the credential records, the subject records), two inserts at random
// keys in a fourth (the map's leaves), and a 210-byte share of an entry
// bundle; one durable commit per batch. It compares SQLite's B-trees,
// opened as the log's SQLite engine opens them, with an LSM tree
// (github.com/cockroachdb/pebble/v2), and is not part of credlog: it is
// its own module, so that credlog does not depend on the LSM tree.
//
// Values are random bytes of the records' sizes, so neither store can
// compress them. The map's leaves are written with each batch, where
// the log writes them at each map-root entry.
//
//	storepattern -engine sqlite -dir DIR -pre 1000000 -run 100000
//	storepattern -engine lsm -dir DIR -pre 1000000 -run 100000
//
// -pre loads that many events first, in batches of 10,000 without
// syncing; -run then times that many more in batches of -batch events,
// each read before it is written and committed durably. A DIR loaded
// before is reopened and grown (-pre 0 for a timed run alone).
package main

import (
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"time"
)

// The tables of the pattern, each a key prefix in the LSM tree.
const (
	tLeaf    = 'l' // leaf hash → index, 8 bytes
	tCred    = 'c' // credential ID || issuer → record
	tSubject = 's' // subject label || issuer → record
	tMap     = 'm' // map key → leaf
)

const issuer = "issuer.example"

// Sizes of the values, as the log's records and map leaves take them.
const (
	credSize    = 90
	subjectSize = 130
	mapCredSize = 51  // hash || credential value
	mapSubjSize = 109 // hash || subject value
	entrySize   = 210
	bundleWidth = 256
)

// row is one insert.
type row struct {
	table byte
	key   []byte
	value []byte
}

// store is one storage structure under the pattern.
type store interface {
	// has reports whether table holds key, read through what commits.
	has(table byte, key []byte) (bool, error)
	// commit writes rows and bundles (by index), and that the store
	// holds n events, at once; durably if sync.
	commit(rows []row, bundles map[uint64][]byte, n uint64, sync bool) error
	// events returns how many events the store holds.
	events() (uint64, error)
	close() error
}

type gen struct {
	rng *rand.ChaCha8
	idx uint64 // the next event's index
}

func (g *gen) bytes(n int) []byte {
	b := make([]byte, n)
	g.rng.Read(b)
	return b
}

// batch returns the rows of n events and the bundles they fill, and the
// keys a sequencer would read first.
func (g *gen) batch(n int, bundle *[]byte) ([]row, map[uint64][]byte, []row) {
	rows := make([]row, 0, 5*n)
	reads := make([]row, 0, 3*n)
	bundles := map[uint64][]byte{}
	for range n {
		leaf := g.bytes(32)
		cred := append(g.bytes(32), issuer...)
		subj := append(g.bytes(32), issuer...)
		idx := make([]byte, 8)
		for i := range 8 {
			idx[i] = byte(g.idx >> (56 - 8*i))
		}
		reads = append(reads, row{tLeaf, leaf, nil}, row{tCred, cred, nil}, row{tSubject, subj, nil})
		rows = append(rows,
			row{tLeaf, leaf, idx},
			row{tCred, cred, g.bytes(credSize)},
			row{tSubject, subj, g.bytes(subjectSize)},
			row{tMap, g.bytes(32), g.bytes(mapCredSize)},
			row{tMap, g.bytes(32), g.bytes(mapSubjSize)})
		*bundle = append(*bundle, g.bytes(entrySize)...)
		g.idx++
		if g.idx%bundleWidth == 0 {
			bundles[g.idx/bundleWidth-1] = *bundle
			*bundle = make([]byte, 0, bundleWidth*entrySize)
		}
	}
	return rows, bundles, reads
}

func main() {
	engine := flag.String("engine", "lsm", "sqlite or lsm")
	dir := flag.String("dir", "", "the store's directory")
	pre := flag.Int("pre", 0, "events to load first, without syncing")
	run := flag.Int("run", 100000, "events to time")
	size := flag.Int("batch", 2560, "events per timed batch, a multiple of 256")
	cacheMiB := flag.Int64("cache", 32, "MiB of page or block cache")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the timed run here")
	flag.Parse()
	if *dir == "" {
		log.Fatal("-dir is required")
	}
	if *size <= 0 || *size%bundleWidth != 0 {
		log.Fatalf("-batch %d is not a positive multiple of %d", *size, bundleWidth)
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		log.Fatal(err)
	}
	var s store
	var err error
	switch *engine {
	case "sqlite":
		s, err = openSQLite(*dir, *cacheMiB)
	case "lsm":
		s, err = openLSM(*dir, *cacheMiB)
	default:
		log.Fatalf("unknown engine %q", *engine)
	}
	if err != nil {
		log.Fatal(err)
	}
	n, err := s.events()
	if err != nil {
		log.Fatal(err)
	}
	if n%bundleWidth != 0 {
		log.Fatalf("the store holds %d events, not whole bundles", n)
	}
	g := &gen{rng: rand.NewChaCha8([32]byte{byte(n), byte(n >> 8), byte(n >> 16), byte(n >> 24)}), idx: n}
	bundle := make([]byte, 0, bundleWidth*entrySize)
	t0 := time.Now()
	for done := 0; done < *pre; done += 10240 {
		rows, bundles, _ := g.batch(10240, &bundle)
		if err := s.commit(rows, bundles, g.idx, false); err != nil {
			log.Fatal(err)
		}
	}
	if *pre > 0 {
		fmt.Printf("loaded %d events in %.1f s; the store holds %d\n", *pre, time.Since(t0).Seconds(), g.idx)
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	t0 = time.Now()
	start := g.idx
	found := 0
	for g.idx-start < uint64(*run) {
		rows, bundles, reads := g.batch(*size, &bundle)
		for _, r := range reads {
			ok, err := s.has(r.table, r.key)
			if err != nil {
				log.Fatal(err)
			}
			if ok {
				found++
			}
		}
		if err := s.commit(rows, bundles, g.idx, true); err != nil {
			log.Fatal(err)
		}
	}
	el := time.Since(t0)
	timed := g.idx - start
	fmt.Printf("%s: %d events from %d in %.2f s: %.0f events/s (%d reads found a row)\n",
		*engine, timed, start, el.Seconds(), float64(timed)/el.Seconds(), found)
	if err := s.close(); err != nil {
		log.Fatal(err)
	}
}
