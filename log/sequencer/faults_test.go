package sequencer_test

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/credlog/credlog/log/fsck"
	"github.com/credlog/credlog/log/keys"
	"github.com/credlog/credlog/log/sequencer"
	"github.com/credlog/credlog/log/storage/sqlite"
)

// fsckDir checks the log in dir offline, as credlog fsck does, and
// returns its size.
func (e *env) fsckDir() uint64 {
	e.t.Helper()
	st, err := sqlite.OpenReadOnly(context.Background(), filepath.Join(e.dir, "log.db"))
	if err != nil {
		e.t.Fatal(err)
	}
	defer st.Close()
	v, err := keys.ParseVerifier(e.logKey.VerifierKey())
	if err != nil {
		e.t.Fatal(err)
	}
	rep, err := fsck.Check(context.Background(), st, v, fsck.Options{})
	if err != nil {
		e.t.Fatalf("fsck: %v", err)
	}
	return rep.Entries
}

// TestReadOnlyDatabase runs the log on a database it cannot write (opened
// with SQLite's mode=ro, which holds even for root, unlike file
// permissions): every submission fails with ErrCommit naming the cause,
// nothing is acknowledged or stored, and the log appends again once it
// runs on a writable database.
func TestReadOnlyDatabase(t *testing.T) {
	e := newEnv(t)
	for i, raw := range [][]byte{e.registration(), e.issue(1)} {
		if r := e.submit(raw); r.Err != nil || r.Index != uint64(i) {
			t.Fatalf("event %d: %+v", i, r)
		}
	}
	e.stop()

	st, err := sqlite.OpenReadOnly(context.Background(), filepath.Join(e.dir, "log.db"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := sequencer.New(context.Background(), sequencer.Config{Signer: e.logKey, Storage: st, MaxAge: 5 * time.Millisecond, PublishInterval: 20 * time.Millisecond, MapEpoch: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.l, e.cancel, e.done = l, cancel, make(chan error, 1)
	go func() { e.done <- l.Run(ctx) }()
	for n := 2; n <= 3; n++ {
		r := e.submit(e.issue(n))
		if !errors.Is(r.Err, sequencer.ErrCommit) || !strings.Contains(r.Err.Error(), "read-only") {
			t.Fatalf("issue %d on a read-only database: %+v", n, r)
		}
	}
	e.stop()
	if size := e.fsckDir(); size != 2 {
		t.Fatalf("read-only database has %d entries, want 2", size)
	}

	e.start()
	for n := 2; n <= 3; n++ {
		if r := e.submit(e.issue(n)); r.Err != nil || r.Index != uint64(n) {
			t.Fatalf("issue %d on a writable database: %+v", n, r)
		}
	}
	e.stop()
	if size := e.fsckDir(); size != 4 {
		t.Fatalf("%d entries, want 4", size)
	}
}

// TestFileSizeLimit stands in for a disk that fails every write: a full
// filesystem needs privileges to create, but RLIMIT_FSIZE makes every
// write past an offset fail (EFBIG instead of ENOSPC) without any. The
// limit is one page, below the files' sizes: after a checkpoint SQLite
// writes its write-ahead log again from the start, within the file, as
// it would on a full disk. While the limit holds, batches fail with
// ErrCommit and nothing is acknowledged or stored; once it is lifted,
// the log appends again at dense indices and the stored log passes fsck.
func TestFileSizeLimit(t *testing.T) {
	e := newEnv(t)
	if r := e.submit(e.registration()); r.Err != nil {
		t.Fatal(r.Err)
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Skipf("no RLIMIT_FSIZE: %v", err)
	}
	var largest int64
	for _, name := range []string{"log.db", "log.db-wal"} {
		if fi, err := os.Stat(filepath.Join(e.dir, name)); err == nil && fi.Size() > largest {
			largest = fi.Size()
		}
	}
	if lim.Max != ^uint64(0) && lim.Max < uint64(largest)+1<<20 {
		t.Skipf("hard RLIMIT_FSIZE %d too low", lim.Max)
	}
	// Past the limit, the kernel sends SIGXFSZ, which would kill the
	// process; ignored, the write fails with EFBIG instead.
	signal.Ignore(syscall.SIGXFSZ)
	defer signal.Reset(syscall.SIGXFSZ)
	full := lim
	full.Cur = 4096
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &full); err != nil {
		t.Skipf("can't set RLIMIT_FSIZE: %v", err)
	}
	restored := false
	restore := func() {
		if !restored {
			restored = true
			if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
				t.Fatalf("can't restore RLIMIT_FSIZE: %v", err)
			}
		}
	}
	defer restore()

	failures := 0
	for n := 1; n <= 5; n++ {
		r := e.submit(e.issue(n))
		switch {
		case errors.Is(r.Err, sequencer.ErrCommit):
			failures++
		case r.Err != nil:
			t.Fatalf("issue %d with the disk full: %v", n, r.Err)
		default:
			t.Fatalf("issue %d acknowledged at %d with the disk full", n, r.Index)
		}
	}
	restore()
	if st := e.l.Stats(); st.Committed != 1 {
		t.Fatalf("committed %d with the disk full, want 1", st.Committed)
	}
	for n := 1; n <= 5; n++ {
		if r := e.submit(e.issue(n)); r.Err != nil || r.Index != uint64(n) {
			t.Fatalf("issue %d after the disk was freed: %+v", n, r)
		}
	}
	e.stop()
	if size := e.fsckDir(); size != 6 {
		t.Fatalf("%d entries, want 6", size)
	}
}
