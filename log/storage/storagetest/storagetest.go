// Package storagetest is the conformance suite every storage engine runs:
// the durability and atomicity contract of storage.Storage, checked
// through its public API against a real database.
package storagetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/state"
	"github.com/credlog/credlog/log/storage"
	"github.com/credlog/credlog/log/tiles"
)

// Opener opens the engine under test. Called twice with the same name it
// must return the same database (the second call after the first was
// closed): that is how the suite checks durability across restarts.
type Opener func(t *testing.T, name string) storage.Storage

// Run runs the conformance suite.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		f    func(*testing.T, Opener)
	}{
		{"EmptyLog", testEmpty},
		{"CommitAndRead", testCommitAndRead},
		{"Reopen", testReopen},
		{"Conflict", testConflict},
		{"AtomicFailure", testAtomicFailure},
		{"Postings", testPostings},
		{"Checkpoints", testCheckpoints},
		{"State", testState},
		{"ConcurrentReads", testConcurrentReads},
		{"ScanCheckpoints", testScanCheckpoints},
		{"ScanIndex", testScanIndex},
		{"ScanState", testScanState},
		{"ScanMapNodes", testScanMapNodes},
		{"Map", testMap},
		{"MapAtomicFailure", testMapAtomicFailure},
		{"WriterReads", testWriterReads},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.f(t, open) })
	}
}

func hashOf(s string) entry.Hash { return sha256.Sum256([]byte(s)) }

// batch builds a batch of n synthetic entries on b. Every even entry
// names the credential cred-<index/4> and the subject subj-<index%3> of
// the issuer "iss", and the batch's State changes their records.
func batch(t testing.TB, b *tiles.Builder, n int) (*storage.Batch, [][]byte) {
	t.Helper()
	sb, data := plainBatch(t, b, n, 0)
	sb.State = &state.Changes{}
	seen := map[entry.Hash]bool{}
	for i := range sb.Entries {
		e := &sb.Entries[i]
		if e.Index%2 != 0 {
			continue
		}
		e.Credential = hashOf(fmt.Sprintf("cred-%d", e.Index/4))
		e.Subject = hashOf(fmt.Sprintf("subj-%d", e.Index%3))
		if !seen[e.Credential] {
			seen[e.Credential] = true
			sb.State.Credentials = append(sb.State.Credentials, &state.Credential{Issuer: "iss", ID: e.Credential,
				Subject: e.Subject, Version: 1, NotAfter: 1 << 40, Status: state.StatusActive, IssueIndex: e.Index, LastIndex: e.Index})
		}
		if !seen[e.Subject] {
			seen[e.Subject] = true
			sb.State.Subjects = append(sb.State.Subjects, &state.Subject{Issuer: "iss", Label: e.Subject, Version: 1,
				Live: e.Credential, Events: 1, Digest: e.Subject})
		}
	}
	return sb, data
}

// plainBatch builds a batch of n synthetic entries on b, each with pad
// zero bytes appended, that name no credential or subject.
func plainBatch(t testing.TB, b *tiles.Builder, n, pad int) (*storage.Batch, [][]byte) {
	t.Helper()
	start := b.Size()
	var data [][]byte
	sb := &storage.Batch{Start: start}
	for i := 0; i < n; i++ {
		idx := start + uint64(i)
		e := []byte(fmt.Sprintf("entry-%d", idx))
		if pad > 0 {
			e = append(e, make([]byte, pad)...)
		}
		data = append(data, e)
		sb.Entries = append(sb.Entries, storage.Entry{Index: idx, LeafHash: tiles.LeafHash(e), Issuer: "iss"})
	}
	u, err := b.Append(data)
	if err != nil {
		t.Fatal(err)
	}
	sb.SetTree(u)
	return sb, data
}

func builder(t testing.TB, ctx context.Context, s storage.Storage) *tiles.Builder {
	t.Helper()
	ts, err := s.Tree(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := tiles.NewBuilder(ts.Size, ts.Edge,
		func(l, i uint64) ([]byte, error) { return s.ReadTile(ctx, l, i) },
		func(_, i uint64) ([]byte, error) { return s.ReadBundle(ctx, i) })
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testEmpty(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t, "empty")
	defer s.Close()
	ts, err := s.Tree(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ts.Size != 0 || ts.Root != tiles.EmptyRoot || len(ts.Edge) != 0 {
		t.Fatalf("empty tree = %+v", ts)
	}
	if _, _, err := s.LatestCheckpoint(ctx); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("LatestCheckpoint on empty log: %v", err)
	}
	if _, err := s.ReadTile(ctx, 0, 0); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("ReadTile on empty log: %v", err)
	}
	if _, err := s.ReadBundle(ctx, 0); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("ReadBundle on empty log: %v", err)
	}
	if _, err := s.LookupLeaf(ctx, [32]byte{1}); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("LookupLeaf on empty log: %v", err)
	}
	if got, err := s.ByCredential(ctx, hashOf("x")); err != nil || len(got) != 0 {
		t.Errorf("ByCredential on empty log = %v, %v", got, err)
	}
	if i, err := s.Issuer("nobody"); i != nil || err != nil {
		t.Errorf("Issuer on empty log = %v, %v", i, err)
	}
}

func testCommitAndRead(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t, "commit")
	defer s.Close()
	b := builder(t, ctx, s)
	var all [][]byte
	for _, n := range []int{1, 255, 300, 7} {
		sb, data := batch(t, b, n)
		if err := s.Commit(ctx, sb); err != nil {
			t.Fatal(err)
		}
		all = append(all, data...)
		ts, err := s.Tree(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ts.Size != sb.Tree.Size || ts.Root != sb.Tree.Root || len(ts.Edge) != len(sb.Tree.Edge) {
			t.Fatalf("tree after commit = %d %x, want %d %x", ts.Size, ts.Root, sb.Tree.Size, sb.Tree.Root)
		}
	}
	checkContent(t, ctx, s, all)
}

// checkContent checks tiles, bundles and indexes against the entries.
func checkContent(t *testing.T, ctx context.Context, s storage.Storage, all [][]byte) {
	t.Helper()
	for i, e := range all {
		bu, err := s.ReadBundle(ctx, uint64(i/256))
		if err != nil {
			t.Fatalf("bundle of entry %d: %v", i, err)
		}
		es, err := tiles.BundleEntries(bu)
		if err != nil || len(es) <= i%256 || !bytes.Equal(es[i%256], e) {
			t.Fatalf("entry %d not in its bundle (%v)", i, err)
		}
		idx, err := s.LookupLeaf(ctx, tiles.LeafHash(e))
		if err != nil || idx != uint64(i) {
			t.Fatalf("LookupLeaf(entry %d) = %d, %v", i, idx, err)
		}
		tile, err := s.ReadTile(ctx, 0, uint64(i/256))
		if err != nil || len(tile) < (i%256+1)*32 {
			t.Fatalf("tile of entry %d: %d bytes, %v", i, len(tile), err)
		}
		if lh := tiles.LeafHash(e); !bytes.Equal(tile[(i%256)*32:(i%256+1)*32], lh[:]) {
			t.Fatalf("tile hash of entry %d differs", i)
		}
	}
	hashes := [][32]byte{hashOf("never logged")}
	for _, e := range all {
		hashes = append(hashes, tiles.LeafHash(e))
	}
	known, err := s.LookupLeaves(ctx, hashes)
	if err != nil || len(known) != len(all) {
		t.Fatalf("LookupLeaves found %d of %d entries: %v", len(known), len(all), err)
	}
	for i, e := range all {
		if idx, ok := known[tiles.LeafHash(e)]; !ok || idx != uint64(i) {
			t.Fatalf("LookupLeaves(entry %d) = %d, %v", i, idx, ok)
		}
	}
	want := map[entry.Hash][]uint64{}
	for i := 0; i < len(all); i += 2 {
		c := hashOf(fmt.Sprintf("cred-%d", i/4))
		want[c] = append(want[c], uint64(i))
	}
	for c, w := range want {
		got, err := s.ByCredential(ctx, c)
		if err != nil || fmt.Sprint(got) != fmt.Sprint(w) {
			t.Fatalf("ByCredential = %v, %v; want %v", got, err, w)
		}
	}
	var subj []uint64
	for i := 0; i < len(all); i += 2 {
		if i%3 == 1 {
			subj = append(subj, uint64(i))
		}
	}
	got, err := s.BySubject(ctx, hashOf("subj-1"))
	if err != nil || fmt.Sprint(got) != fmt.Sprint(subj) {
		t.Fatalf("BySubject = %v, %v; want %v", got, err, subj)
	}
}

func testReopen(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t, "reopen")
	b := builder(t, ctx, s)
	sb, all := batch(t, b, 600)
	if err := s.Commit(ctx, sb); err != nil {
		t.Fatal(err)
	}
	if err := s.PutCheckpoint(ctx, 600, []byte("cp600")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, "reopen")
	defer s.Close()
	ts, err := s.Tree(ctx)
	if err != nil || ts.Size != 600 || ts.Root != sb.Tree.Root {
		t.Fatalf("tree after reopen = %+v, %v", ts, err)
	}
	// A builder resumed from storage goes on appending consistently.
	b2 := builder(t, ctx, s)
	if b2.Root() != sb.Tree.Root {
		t.Fatal("resumed builder has another root")
	}
	sb2, more := batch(t, b2, 100)
	if err := s.Commit(ctx, sb2); err != nil {
		t.Fatal(err)
	}
	checkContent(t, ctx, s, append(all, more...))
	if size, cp, err := s.LatestCheckpoint(ctx); err != nil || size != 600 || string(cp) != "cp600" {
		t.Fatalf("checkpoint after reopen = %d %q %v", size, cp, err)
	}
}

func testConflict(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t, "conflict")
	defer s.Close()
	b := builder(t, ctx, s)
	sb, _ := batch(t, b, 10)
	if err := s.Commit(ctx, sb); err != nil {
		t.Fatal(err)
	}
	// The same batch again (a second sequencer with a stale view).
	err := s.Commit(ctx, sb)
	var ce *storage.ConflictError
	if !errors.As(err, &ce) || ce.Stored != 10 || ce.Start != 0 {
		t.Fatalf("stale commit: %v", err)
	}
	ts, _ := s.Tree(ctx)
	if ts.Size != 10 || ts.Root != sb.Tree.Root {
		t.Fatalf("stale commit changed the tree to %d", ts.Size)
	}
}

// testAtomicFailure commits a batch that fails in the middle (a leaf hash
// that is already stored) and checks that nothing of it is visible.
func testAtomicFailure(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t, "atomic")
	defer s.Close()
	b := builder(t, ctx, s)
	sb, all := batch(t, b, 300)
	if err := s.Commit(ctx, sb); err != nil {
		t.Fatal(err)
	}
	b2 := b.Clone()
	bad, _ := batch(t, b2, 50)
	bad.Entries[40].LeafHash = sb.Entries[3].LeafHash // duplicate: must fail
	bad.State.Issuers = append(bad.State.Issuers, &state.Issuer{Name: "ghost", KeyID: 1})
	if err := s.Commit(ctx, bad); err == nil {
		t.Fatal("a batch with a duplicate leaf hash committed")
	}
	ts, _ := s.Tree(ctx)
	if ts.Size != 300 || ts.Root != sb.Tree.Root {
		t.Fatalf("failed batch moved the tree to %d", ts.Size)
	}
	if i, _ := s.Issuer("ghost"); i != nil {
		t.Fatal("failed batch wrote state")
	}
	if _, err := s.LookupLeaf(ctx, bad.Entries[0].LeafHash); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("failed batch left a leaf index: %v", err)
	}
	checkContent(t, ctx, s, all)
	// The log goes on from where it was.
	good, _ := batch(t, b, 50)
	if err := s.Commit(ctx, good); err != nil {
		t.Fatal(err)
	}
}

// testPostings checks the lookups by credential and by subject across
// issuers and batches, and that a batch whose entry names a record it does
// not change is refused, writing nothing.
func testPostings(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t, "postings")
	defer s.Close()
	b := builder(t, ctx, s)
	// Two issuers name the same credential ID and the same subject label,
	// over three batches; another credential is named once.
	cred, subj, other := hashOf("shared credential"), hashOf("shared subject"), hashOf("other")
	want := map[entry.Hash][]uint64{}
	for round := range 3 {
		sb, _ := plainBatch(t, b, 4, 0)
		sb.State = &state.Changes{}
		for i, iss := range []string{"a", "b", "a"} {
			e := &sb.Entries[i+1]
			e.Issuer, e.Credential, e.Subject = iss, cred, subj
			want[cred] = append(want[cred], e.Index)
			want[subj] = append(want[subj], e.Index)
			if i < 2 {
				sb.State.Credentials = append(sb.State.Credentials, &state.Credential{Issuer: iss, ID: cred, Subject: subj, LastIndex: e.Index})
				sb.State.Subjects = append(sb.State.Subjects, &state.Subject{Issuer: iss, Label: subj, Events: uint64(round)})
			}
		}
		if round == 1 {
			e := &sb.Entries[0]
			e.Issuer, e.Credential, e.Subject = "b", other, subj
			want[other] = append(want[other], e.Index)
			want[subj] = append([]uint64{e.Index}, want[subj]...)
			slices.Sort(want[subj])
			sb.State.Credentials = append(sb.State.Credentials, &state.Credential{Issuer: "b", ID: other, Subject: subj})
		}
		if err := s.Commit(ctx, sb); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	check := func(when string) {
		t.Helper()
		for _, c := range []entry.Hash{cred, other} {
			if got, err := s.ByCredential(ctx, c); err != nil || !slices.Equal(got, want[c]) {
				t.Errorf("%s: ByCredential = %v, %v; want %v", when, got, err, want[c])
			}
		}
		if got, err := s.BySubject(ctx, subj); err != nil || !slices.Equal(got, want[subj]) {
			t.Errorf("%s: BySubject = %v, %v; want %v", when, got, err, want[subj])
		}
		if got, err := s.BySubject(ctx, cred); err != nil || len(got) != 0 {
			t.Errorf("%s: BySubject of a credential ID = %v, %v; want none", when, got, err)
		}
	}
	check("after three batches")
	ts, err := s.Tree(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// An entry naming a credential or a subject whose record the batch
	// does not change: refused before anything is written.
	for _, missing := range []string{"credential", "subject"} {
		sb, _ := plainBatch(t, b.Clone(), 2, 0)
		e := &sb.Entries[1]
		e.Issuer, e.Credential, e.Subject = "a", cred, subj
		sb.State = &state.Changes{
			Issuers:     []*state.Issuer{{Name: "ghost", KeyID: 1}},
			Credentials: []*state.Credential{{Issuer: "a", ID: cred, Subject: subj}},
			Subjects:    []*state.Subject{{Issuer: "a", Label: subj}},
		}
		if missing == "credential" {
			sb.State.Credentials[0].Issuer = "b" // the record of another issuer
		} else {
			sb.State.Subjects = nil
		}
		err := s.Commit(ctx, sb)
		if err == nil || !strings.Contains(err.Error(), "names "+missing) {
			t.Fatalf("a batch without the %s record it names: %v", missing, err)
		}
		if got, err := s.Tree(ctx); err != nil || got.Size != ts.Size || got.Root != ts.Root {
			t.Fatalf("the refused batch moved the tree to %d, %v", got.Size, err)
		}
		if _, err := s.LookupLeaf(ctx, sb.Entries[0].LeafHash); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("the refused batch left a leaf index: %v", err)
		}
		if i, _ := s.Issuer("ghost"); i != nil {
			t.Fatal("the refused batch wrote state")
		}
		check("after a refused batch")
	}
}

func testCheckpoints(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t, "checkpoints")
	defer s.Close()
	for _, n := range []uint64{1, 5, 300} {
		if err := s.PutCheckpoint(ctx, n, []byte(fmt.Sprintf("cp%d", n))); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutCheckpoint(ctx, 300, []byte("again")); err == nil {
		t.Error("a second checkpoint of size 300 was stored")
	}
	if err := s.PutCheckpoint(ctx, 4, []byte("older")); err == nil {
		t.Error("an older checkpoint was stored after a newer one")
	}
	for _, n := range []uint64{1, 5, 300} {
		cp, err := s.Checkpoint(ctx, n)
		if err != nil || string(cp) != fmt.Sprintf("cp%d", n) {
			t.Errorf("Checkpoint(%d) = %q, %v", n, cp, err)
		}
	}
	if _, err := s.Checkpoint(ctx, 4); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Checkpoint(4) = %v", err)
	}
	if size, cp, err := s.LatestCheckpoint(ctx); err != nil || size != 300 || string(cp) != "cp300" {
		t.Errorf("LatestCheckpoint = %d %q %v", size, cp, err)
	}
}

func testState(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t, "state")
	defer s.Close()
	b := builder(t, ctx, s)
	sb, _ := plainBatch(t, b, 2, 0)
	iss := &state.Issuer{Name: "id.example", KeyID: 0xdeadbeef, PublicKey: [32]byte{1}, VRFKey: [32]byte{2}}
	cred := &state.Credential{Issuer: "id.example", ID: hashOf("c"), Subject: hashOf("s"), Version: 3, NotAfter: 1 << 40,
		Status: state.StatusSuspended, Reason: entry.ReasonLegalOrder, IssueIndex: 0, LastIndex: 1}
	sub := &state.Subject{Issuer: "id.example", Label: hashOf("s"), Version: 3, Live: hashOf("c"), Events: 2, Digest: hashOf("d")}
	sb.State = &state.Changes{Issuers: []*state.Issuer{iss}, Credentials: []*state.Credential{cred}, Subjects: []*state.Subject{sub}}
	if err := s.Commit(ctx, sb); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Issuer("id.example"); err != nil || *got != *iss {
		t.Errorf("Issuer = %+v, %v", got, err)
	}
	if got, err := s.Credential("id.example", hashOf("c")); err != nil || *got != *cred {
		t.Errorf("Credential = %+v, %v", got, err)
	}
	if got, err := s.Credential("other", hashOf("c")); err != nil || got != nil {
		t.Errorf("Credential of another issuer = %+v, %v", got, err)
	}
	if got, err := s.Subject("id.example", hashOf("s")); err != nil || *got != *sub {
		t.Errorf("Subject = %+v, %v", got, err)
	}
	cm, sm, err := s.ReadState(ctx,
		[]storage.RecordKey{{Issuer: "id.example", ID: hashOf("c")}, {Issuer: "other", ID: hashOf("c")}, {Issuer: "id.example", ID: hashOf("x")}},
		[]storage.RecordKey{{Issuer: "id.example", ID: hashOf("s")}, {Issuer: "id.example", ID: hashOf("c")}})
	if err != nil || len(cm) != 1 || len(sm) != 1 {
		t.Fatalf("ReadState = %d credentials, %d subjects, %v; want 1, 1", len(cm), len(sm), err)
	}
	if got := cm[storage.RecordKey{Issuer: "id.example", ID: hashOf("c")}]; got == nil || *got != *cred {
		t.Errorf("ReadState credential = %+v", got)
	}
	if got := sm[storage.RecordKey{Issuer: "id.example", ID: hashOf("s")}]; got == nil || *got != *sub {
		t.Errorf("ReadState subject = %+v", got)
	}
	// Many keys, over several queries.
	var many []storage.RecordKey
	for i := range 450 {
		many = append(many, storage.RecordKey{Issuer: "id.example", ID: hashOf(fmt.Sprint("absent ", i))})
	}
	many = append(many, storage.RecordKey{Issuer: "id.example", ID: hashOf("c")})
	if cm, _, err := s.ReadState(ctx, many, nil); err != nil || len(cm) != 1 {
		t.Errorf("ReadState over %d keys found %d, %v; want 1", len(many), len(cm), err)
	}
	// A later batch replaces records.
	sb2, _ := plainBatch(t, b, 1, 0)
	c2 := *cred
	c2.Status, c2.LastIndex = state.StatusRevoked, 2
	sb2.State = &state.Changes{Credentials: []*state.Credential{&c2}}
	if err := s.Commit(ctx, sb2); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Credential("id.example", hashOf("c")); got.Status != state.StatusRevoked || got.LastIndex != 2 {
		t.Errorf("updated credential = %+v", got)
	}
}

func testConcurrentReads(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t, "concurrent")
	defer s.Close()
	b := builder(t, ctx, s)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 4)
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				ts, err := s.Tree(ctx)
				if err != nil {
					errs <- err
					return
				}
				// Reads never see part of a batch: a committed size has
				// its last entry indexed.
				if ts.Size > 0 {
					if _, err := s.ReadBundle(ctx, (ts.Size-1)/256); err != nil {
						errs <- fmt.Errorf("size %d visible before its bundle: %w", ts.Size, err)
						return
					}
				}
			}
		}()
	}
	for i := 0; i < 20; i++ {
		sb, _ := batch(t, b, 37)
		if err := s.Commit(ctx, sb); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// BenchmarkCommit measures Commit of batches of batchSize entries of about
// 280 bytes (the size of an issue event), with their tiles, bundles and
// index rows, on s (a fresh database). One op is one entry; it also
// reports entries/s.
func BenchmarkCommit(b *testing.B, s storage.Storage, batchSize int) {
	ctx := context.Background()
	bld := builder(b, ctx, s)
	batches := (b.N + batchSize - 1) / batchSize
	b.SetBytes(280) // one op is one entry
	b.ResetTimer()
	for range batches {
		b.StopTimer()
		sb, _ := plainBatch(b, bld, batchSize, 270)
		// Every event of a real batch names a credential and a subject,
		// and writes their records.
		sb.State = &state.Changes{}
		for i := range sb.Entries {
			e := &sb.Entries[i]
			id := sha256.Sum256(binary.BigEndian.AppendUint64(nil, e.Index))
			e.Credential, e.Subject = id, id
			sb.State.Credentials = append(sb.State.Credentials, &state.Credential{Issuer: "iss", ID: id, Subject: id,
				Version: 1, NotAfter: 1 << 40, Status: state.StatusActive, IssueIndex: e.Index, LastIndex: e.Index})
			sb.State.Subjects = append(sb.State.Subjects, &state.Subject{Issuer: "iss", Label: id, Version: 1, Live: id, Events: 1, Digest: id})
		}
		b.StartTimer()
		if err := s.Commit(ctx, sb); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(batches*batchSize)/b.Elapsed().Seconds(), "entries/s")
}

// testWriterReads checks that a storage.WriterReads view reads what the
// storage committed, batch after batch, and that closing it leaves the
// storage open.
func testWriterReads(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t, "writer-reads")
	defer s.Close()
	wr, ok := s.(storage.WriterReads)
	if !ok {
		t.Skip("the engine has no writer view")
	}
	v := wr.ForWriter()
	b := builder(t, ctx, s)
	var hashes [][32]byte
	for round := range 3 {
		sb, _ := plainBatch(t, b, 5, 0)
		cred := &state.Credential{Issuer: "id.example", ID: hashOf("c"), Subject: hashOf("s"), Version: uint32(round + 1), LastIndex: sb.Start}
		sb.State = &state.Changes{Credentials: []*state.Credential{cred}}
		if round > 0 {
			// The view has read the records this batch changes.
			if got, err := v.Credential("id.example", hashOf("c")); err != nil || got == nil || got.Version != uint32(round) {
				t.Fatalf("round %d: view's Credential = %+v, %v before the commit", round, got, err)
			}
		}
		if err := s.Commit(ctx, sb); err != nil {
			t.Fatal(err)
		}
		for _, e := range sb.Entries {
			hashes = append(hashes, e.LeafHash)
		}
		if ts, err := v.Tree(ctx); err != nil || ts.Size != sb.Tree.Size {
			t.Fatalf("round %d: view's Tree = %+v, %v; want size %d", round, ts, err, sb.Tree.Size)
		}
		got, err := v.LookupLeaves(ctx, hashes)
		if err != nil || len(got) != len(hashes) {
			t.Fatalf("round %d: view's LookupLeaves found %d of %d (%v)", round, len(got), len(hashes), err)
		}
		cm, _, err := v.ReadState(ctx, []storage.RecordKey{{Issuer: "id.example", ID: hashOf("c")}}, nil)
		if c := cm[storage.RecordKey{Issuer: "id.example", ID: hashOf("c")}]; err != nil || c == nil || *c != *cred {
			t.Fatalf("round %d: view's ReadState = %+v, %v; want %+v", round, c, err, cred)
		}
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Tree(ctx); err != nil {
		t.Fatalf("Tree after closing the view: %v", err)
	}
}
