package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// leaderLockKey is the key of the session-level advisory lock that the
// sequencing instance holds ("credseq" in ASCII).
const leaderLockKey = 0x63_7265_6473_6571

// ErrNotLeader is returned by Commit and PutCheckpoint of a Storage whose
// sequencer lease was taken over by another instance: the write was
// refused and nothing was written.
var ErrNotLeader = errors.New("storage: another instance took over the sequencer lease")

// Leader is the sequencer lease: while a process holds it, it alone may
// sequence the log stored in the database.
//
// The lease is a session-level advisory lock held on a dedicated
// connection, so PostgreSQL releases it as soon as that connection ends,
// including when the holding process is killed or its host vanishes (once
// the server notices the connection is gone). Acquiring it also
// increments an epoch stored in the table leader, and the Storage that
// acquired it becomes fenced with that epoch: its Commit and
// PutCheckpoint lock the leader row (FOR SHARE) and refuse to write, with
// ErrNotLeader, once the stored epoch is another. The epoch increment
// waits for any write in flight under the previous epoch, so after
// AcquireLeader returns no earlier holder can write any more, even one
// that has not yet noticed that it lost the lock.
//
// It is hand-written on PostgreSQL's own primitives: the Go lock
// libraries at hand lease a row with heartbeats and expiry times, which
// need trusted clocks and a timeout to wait out after a crash, where a
// lock tied to a connection needs neither.
type Leader struct {
	conn  *pgx.Conn
	epoch int64
	lost  chan struct{}
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
}

// AcquireLeader waits until this process holds the sequencer lease, or
// ctx is done. url is advertised to the other instances (LeaderURL) as
// where to forward submissions. From then on s is fenced with the
// lease's epoch. The lease is watched every checkEvery: when its
// connection fails, Lost is closed.
func (s *Storage) AcquireLeader(ctx context.Context, url string, checkEvery time.Duration) (*Leader, error) {
	if s.readOnly {
		return nil, errReadOnly
	}
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, fmt.Errorf("couldn't connect for the sequencer lease: %w", err)
	}
	l := &Leader{conn: conn, lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(leaderLockKey)); err != nil {
		conn.Close(context.Background())
		return nil, fmt.Errorf("couldn't acquire the sequencer lease: %w", err)
	}
	err = conn.QueryRow(ctx, `INSERT INTO leader (id, epoch, url, since) VALUES (0, 1, $1, now())
		ON CONFLICT (id) DO UPDATE SET epoch = leader.epoch + 1, url = excluded.url, since = excluded.since
		RETURNING epoch`, url).Scan(&l.epoch)
	if err != nil {
		conn.Close(context.Background())
		return nil, fmt.Errorf("couldn't record the sequencer lease: %w", err)
	}
	s.fence.Store(l.epoch)
	go l.watch(checkEvery)
	return l, nil
}

// watch checks the lease's connection until it fails or Release.
func (l *Leader) watch(every time.Duration) {
	defer close(l.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), max(every, time.Second))
		err := l.conn.Ping(ctx)
		cancel()
		if err != nil {
			close(l.lost)
			return
		}
	}
}

// Epoch returns the lease's epoch: 1 for the first holder of the
// database, one more for each takeover.
func (l *Leader) Epoch() int64 { return l.epoch }

// Lost is closed when the lease's connection failed: the lock may be held
// by another instance already, and this one must stop sequencing.
func (l *Leader) Lost() <-chan struct{} { return l.lost }

// Release gives the lease up (closing its connection releases the lock).
func (l *Leader) Release() {
	l.once.Do(func() {
		close(l.stop)
		<-l.done
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		l.conn.Close(ctx)
	})
}

// LeaderURL returns the URL advertised by the latest holder of the
// sequencer lease, and whether some session holds the lease now.
func (s *Storage) LeaderURL(ctx context.Context) (url string, held bool, err error) {
	err = s.pool.QueryRow(ctx, `SELECT l.url, EXISTS (SELECT 1 FROM pg_locks
			WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
			AND objsubid = 1 AND ((classid::bigint << 32) | objid::bigint) = $1)
		FROM leader l WHERE l.id = 0`, int64(leaderLockKey)).Scan(&url, &held)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("couldn't read the sequencer lease: %w", err)
	}
	return url, held, nil
}

// checkFence refuses a write of a fenced Storage whose lease was taken
// over. It locks the leader row against a takeover until tx ends.
func (s *Storage) checkFence(ctx context.Context, tx pgx.Tx) error {
	f := s.fence.Load()
	if f == 0 {
		return nil
	}
	var epoch int64
	if err := tx.QueryRow(ctx, "SELECT epoch FROM leader WHERE id = 0 FOR SHARE").Scan(&epoch); err != nil {
		return fmt.Errorf("couldn't read the sequencer lease: %w", err)
	}
	if epoch != f {
		return fmt.Errorf("%w (epoch %d, ours %d)", ErrNotLeader, epoch, f)
	}
	return nil
}
