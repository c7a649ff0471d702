package storagetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/state"
	"github.com/credlog/credlog/log/storage"
)

// errStop is returned by scan functions to check that the error stops the
// scan and comes back as it is.
var errStop = errors.New("stop here")

func testScanCheckpoints(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t, "scan-checkpoints")
	defer s.Close()
	n := 0
	if err := s.Checkpoints(ctx, func(uint64, []byte) error { n++; return nil }); err != nil || n != 0 {
		t.Fatalf("Checkpoints on an empty log: %d rows, %v", n, err)
	}
	sizes := []uint64{1, 2, 17, 256, 300, 70000}
	for _, size := range sizes {
		if err := s.PutCheckpoint(ctx, size, fmt.Appendf(nil, "cp%d", size)); err != nil {
			t.Fatal(err)
		}
	}
	var got []uint64
	err := s.Checkpoints(ctx, func(size uint64, signed []byte) error {
		if string(signed) != fmt.Sprintf("cp%d", size) {
			t.Errorf("checkpoint %d = %q", size, signed)
		}
		got = append(got, size)
		return nil
	})
	if err != nil || !slices.Equal(got, sizes) {
		t.Fatalf("Checkpoints = %v, %v; want %v in order", got, err, sizes)
	}
	n = 0
	err = s.Checkpoints(ctx, func(uint64, []byte) error { n++; return errStop })
	if err != errStop || n != 1 {
		t.Errorf("Checkpoints with a failing function: %d calls, %v; want 1, the function's error", n, err)
	}
}

// indexRow is one row of a lookup index.
type indexRow struct {
	key   [32]byte
	index uint64
}

func scanIndex(t *testing.T, s storage.Storage, kind storage.IndexKind) []indexRow {
	t.Helper()
	var rows []indexRow
	err := s.ScanIndex(context.Background(), kind, func(key [32]byte, index uint64) error {
		rows = append(rows, indexRow{key, index})
		return nil
	})
	if err != nil {
		t.Fatalf("ScanIndex(%v): %v", kind, err)
	}
	return rows
}

func testScanIndex(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t, "scan-index")
	defer s.Close()
	for _, kind := range []storage.IndexKind{storage.LeafIndex, storage.CredentialIndex, storage.SubjectIndex} {
		if rows := scanIndex(t, s, kind); len(rows) != 0 {
			t.Errorf("ScanIndex(%v) on an empty log: %d rows", kind, len(rows))
		}
	}
	b := builder(t, ctx, s)
	var entries []storage.Entry
	for _, n := range []int{300, 10} {
		sb, _ := batch(t, b, n)
		if err := s.Commit(ctx, sb); err != nil {
			t.Fatal(err)
		}
		entries = append(entries, sb.Entries...)
	}
	var zero entry.Hash
	want := map[storage.IndexKind][]indexRow{}
	for _, e := range entries {
		want[storage.LeafIndex] = append(want[storage.LeafIndex], indexRow{e.LeafHash, e.Index})
		if e.Credential != zero {
			want[storage.CredentialIndex] = append(want[storage.CredentialIndex], indexRow{e.Credential, e.Index})
		}
		if e.Subject != zero {
			want[storage.SubjectIndex] = append(want[storage.SubjectIndex], indexRow{e.Subject, e.Index})
		}
	}
	for kind, w := range want {
		if got := scanIndex(t, s, kind); !slices.Equal(got, w) {
			t.Errorf("ScanIndex(%v) = %d rows, want %d in entry order", kind, len(got), len(w))
		}
	}
	n := 0
	err := s.ScanIndex(ctx, storage.LeafIndex, func([32]byte, uint64) error { n++; return errStop })
	if err != errStop || n != 1 {
		t.Errorf("ScanIndex with a failing function: %d calls, %v; want 1, the function's error", n, err)
	}
	if err := s.ScanIndex(ctx, storage.IndexKind(99), func([32]byte, uint64) error { return nil }); err == nil {
		t.Error("ScanIndex of an unknown index succeeded")
	}
}

func testScanState(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t, "scan-state")
	defer s.Close()
	b := builder(t, ctx, s)
	want := &state.Changes{}
	for i := range 3 {
		want.Issuers = append(want.Issuers, &state.Issuer{Name: fmt.Sprint("issuer-", i), KeyID: uint32(i), PublicKey: hashOf(fmt.Sprint("pk", i)), VRFKey: hashOf(fmt.Sprint("vrf", i))})
	}
	for i := range 250 {
		iss := fmt.Sprint("issuer-", i%3)
		want.Credentials = append(want.Credentials, &state.Credential{Issuer: iss, ID: hashOf(fmt.Sprint("c", i)), Subject: hashOf(fmt.Sprint("s", i%40)),
			Version: uint32(i), NotAfter: 1 << 40, Status: state.Status(1 + i%4), Reason: entry.Reason(i % 3), IssueIndex: uint64(i), LastIndex: uint64(2 * i)})
		if i < 40 {
			want.Subjects = append(want.Subjects, &state.Subject{Issuer: iss, Label: hashOf(fmt.Sprint("s", i)), Version: uint32(i),
				Live: hashOf(fmt.Sprint("c", i)), Events: uint64(i + 1), Digest: hashOf(fmt.Sprint("d", i))})
		}
	}
	sb, _ := plainBatch(t, b, 1, 0)
	sb.State = want
	if err := s.Commit(ctx, sb); err != nil {
		t.Fatal(err)
	}
	// A later batch replaces a record: the scan sees the latest version.
	replaced := *want.Credentials[7]
	replaced.Status, replaced.LastIndex = state.StatusRevoked, 1
	want.Credentials[7] = &replaced
	sb, _ = plainBatch(t, b, 1, 0)
	sb.State = &state.Changes{Credentials: []*state.Credential{&replaced}}
	if err := s.Commit(ctx, sb); err != nil {
		t.Fatal(err)
	}
	got := &state.Changes{}
	err := s.ScanState(ctx, storage.StateVisitor{
		Issuer:     func(i *state.Issuer) error { got.Issuers = append(got.Issuers, i); return nil },
		Credential: func(c *state.Credential) error { got.Credentials = append(got.Credentials, c); return nil },
		Subject:    func(su *state.Subject) error { got.Subjects = append(got.Subjects, su); return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	sameRecords(t, "issuers", got.Issuers, want.Issuers, func(i *state.Issuer) string { return i.Name })
	sameRecords(t, "credentials", got.Credentials, want.Credentials, func(c *state.Credential) string { return c.Issuer + string(c.ID[:]) })
	sameRecords(t, "subjects", got.Subjects, want.Subjects, func(su *state.Subject) string { return su.Issuer + string(su.Label[:]) })

	// A nil function skips its table; an error stops the scan.
	n := 0
	err = s.ScanState(ctx, storage.StateVisitor{Subject: func(*state.Subject) error { n++; return errStop }})
	if err != errStop || n != 1 {
		t.Errorf("ScanState with a failing function: %d calls, %v; want 1, the function's error", n, err)
	}
	if err := s.ScanState(ctx, storage.StateVisitor{}); err != nil {
		t.Errorf("ScanState with no functions: %v", err)
	}
}

// sameRecords checks that got and want hold equal records, in any order.
func sameRecords[T comparable](t *testing.T, what string, got, want []*T, key func(*T) string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("ScanState: %d %s, want %d", len(got), what, len(want))
		return
	}
	byKey := map[string]*T{}
	for _, r := range want {
		byKey[key(r)] = r
	}
	for _, r := range got {
		if w := byKey[key(r)]; w == nil || *w != *r {
			t.Errorf("ScanState: %s record %+v, want %+v", what, *r, w)
		}
	}
}
