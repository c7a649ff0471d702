// Package sequencer is the write path of a credlog log: it takes verified
// events, applies the state rules in order, assigns indices in batches,
// commits each batch durably in one storage transaction, and then signs
// and publishes checkpoints.
//
// The pipeline:
//
//  1. [Log.Verify] checks an event's signature under the key the log
//     records for its issuer. Callers run it in parallel, on their own
//     goroutines, ahead of the sequencer.
//  2. [Log.Add] queues the event (or answers [ErrOverloaded] when the queue
//     is full) and returns a [Future].
//  3. The sequencer goroutine ([Log.Run]) takes batches bounded by size and
//     age, applies the rules of package state on an overlay of the stored
//     state, extends the tiles from the tree's right edge kept in memory
//     (package tiles), and commits entries, tiles, bundles, indexes, state
//     and tree together. Only then are the futures resolved: an index is
//     never acknowledged before it is durable.
//     After the commit, the batch's map updates go to the map worker
//     (mapworker.go), which applies them to an in-memory overlay of the
//     stored map on its own goroutine; at each map epoch the sequencer
//     appends a map-root entry with the overlay as its map update.
//  4. The publisher goroutine signs a checkpoint of the latest committed
//     size (only ever of a committed tree, so that two signed checkpoints
//     are always consistent, across crashes too), hands it to the Publish
//     hook (witnessing), and stores it; waiters for publication are woken.
package sequencer

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/credlog/credlog/log/keys"
	"github.com/credlog/credlog/log/state"
	"github.com/credlog/credlog/log/storage"
	"github.com/credlog/credlog/log/tiles"
	"github.com/credlog/credlog/log/vmap"
)

// Errors a submitter can get.
var (
	// ErrOverloaded: the queue is full; retry later.
	ErrOverloaded = errors.New("sequencer: overloaded")
	// ErrStopped: the log is shutting down or has stopped on an error.
	ErrStopped = errors.New("sequencer: stopped")
	// ErrCommit: the batch holding the event could not be committed; the
	// event was not logged.
	ErrCommit = errors.New("sequencer: batch not committed")
)

// Config configures a Log. Zero values take the defaults shown.
type Config struct {
	// Signer is the log's key; its name is the log's origin.
	Signer *keys.Signer
	// Storage holds the log.
	Storage storage.Storage
	// MaxBatch bounds the events in one batch (default 4096).
	MaxBatch int
	// MaxAge bounds how long the first event of a batch waits for others
	// (default 2ms). The batch is otherwise what queued up while the
	// previous one was committed (group commit): under load batches grow
	// by themselves, and an idle log does not make events wait.
	MaxAge time.Duration
	// QueueSize bounds the events waiting to be sequenced (default 65536);
	// beyond it Add answers ErrOverloaded.
	QueueSize int
	// Publish, if set, is called with each signed checkpoint before it is
	// stored and served, and returns the checkpoint to publish (for
	// example with witness cosignatures). An error holds publication back
	// until a later attempt succeeds (fail-closed).
	Publish func(ctx context.Context, size uint64, signed []byte) ([]byte, error)
	// PublishInterval is how often the publisher retries or checks for
	// new entries when idle (default 1s).
	PublishInterval time.Duration
	// MapEpoch is how often the log appends a map-root entry committing
	// to the verifiable map over the entries before it, when entries
	// changed the map since the previous one (default 5s).
	MapEpoch time.Duration
	// MapMaxPending bounds the map updates (distinct credentials and
	// subjects) pending between map-root entries: past it, a map-root
	// entry is appended without waiting for the epoch (default 65536).
	MapMaxPending int
	// MapCacheDepth is how many levels of the map the map worker keeps in
	// memory (vmap.Cache), at most 24 (default 18: at most 262,143
	// positions, their hashes in 8.3 MiB, and the leaves among them).
	MapCacheDepth int
	// MapIdle is the longest the log goes without a map-root entry, even
	// when nothing changed, so that status proofs stay fresh (default
	// 5m).
	MapIdle time.Duration
	// Logger receives the log's diagnostics (default slog.Default()).
	Logger *slog.Logger
	// Metrics, if set, receives the log's measurements.
	Metrics *Metrics
}

// Log is a running log's write path.
type Log struct {
	cfg    Config
	origin string
	rules  *state.Rules
	store  storage.Storage
	// rd is what the sequencer goroutine and its map worker read
	// through: store, or its storage.WriterReads view.
	rd    storage.Storage
	queue chan *pending
	log   *slog.Logger
	m     *Metrics

	// Sequencer-owned.
	builder *tiles.Builder
	mapWork *mapWorker
	// lastMapRoot is when the latest map-root entry was appended (or the
	// log started).
	lastMapRoot time.Time
	mapPending  vmap.Pending // map updates since the latest map-root entry

	keysMu sync.RWMutex
	keys   map[string]issuerKey // issuer → current key, as committed

	pubMu sync.Mutex // held while a checkpoint is signed and published

	mu        sync.Mutex
	committed uint64           // durable tree size
	published uint64           // size of the latest published checkpoint
	pubNote   []byte           // that checkpoint, signed; nil if none
	mapRoot   *storage.MapRoot // the latest map-root entry, as stored; nil if none
	pubTime   time.Time        // when it was published
	pubCh     chan struct{}    // closed and replaced on every publication
	commitCh  chan struct{}    // closed and replaced on every commit
	stopped   error
}

type issuerKey struct {
	id  uint32
	pub ed25519.PublicKey
}

// New opens the log stored in cfg.Storage.
func New(ctx context.Context, cfg Config) (*Log, error) {
	if cfg.Signer == nil || cfg.Storage == nil {
		return nil, errors.New("sequencer: Signer and Storage are required")
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 4096
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 2 * time.Millisecond
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 65536
	}
	if cfg.PublishInterval <= 0 {
		cfg.PublishInterval = time.Second
	}
	if cfg.MapEpoch <= 0 {
		cfg.MapEpoch = 5 * time.Second
	}
	if cfg.MapIdle <= 0 {
		cfg.MapIdle = 5 * time.Minute
	}
	if cfg.MapMaxPending <= 0 {
		cfg.MapMaxPending = 65536
	}
	if cfg.MapCacheDepth <= 0 {
		cfg.MapCacheDepth = 18
	}
	if cfg.MapCacheDepth > vmap.MaxCacheDepth {
		return nil, fmt.Errorf("sequencer: MapCacheDepth %d is more than %d", cfg.MapCacheDepth, vmap.MaxCacheDepth)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	ts, err := cfg.Storage.Tree(ctx)
	if err != nil {
		return nil, fmt.Errorf("couldn't read the tree state: %w", err)
	}
	b, err := tiles.NewBuilder(ts.Size, ts.Edge,
		func(l, i uint64) ([]byte, error) { return cfg.Storage.ReadTile(ctx, l, i) },
		func(_, i uint64) ([]byte, error) { return cfg.Storage.ReadBundle(ctx, i) })
	if err != nil {
		return nil, err
	}
	if b.Root() != ts.Root {
		return nil, fmt.Errorf("sequencer: stored root %x does not match the stored right edge (%x)", ts.Root, b.Root())
	}
	rd := cfg.Storage
	if wr, ok := rd.(storage.WriterReads); ok {
		rd = wr.ForWriter()
	}
	l := &Log{
		cfg:         cfg,
		origin:      cfg.Signer.Name(),
		rules:       state.NewRules(cfg.Signer.Name(), cfg.Signer.Public()),
		store:       cfg.Storage,
		rd:          rd,
		queue:       make(chan *pending, cfg.QueueSize),
		log:         cfg.Logger,
		m:           cfg.Metrics,
		builder:     b,
		mapWork:     newMapWorker(vmap.NewCache(rd, cfg.MapCacheDepth)),
		lastMapRoot: time.Now(),
		keys:        make(map[string]issuerKey),
		committed:   ts.Size,
		pubCh:       make(chan struct{}),
		commitCh:    make(chan struct{}),
	}
	if size, cp, err := cfg.Storage.LatestCheckpoint(ctx); err == nil {
		l.published, l.pubNote, l.pubTime = size, cp, time.Now()
	} else if !errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("couldn't read the latest checkpoint: %w", err)
	}
	if err := l.recoverPending(ctx, ts.Size); err != nil {
		return nil, err
	}
	l.m.treeSize.Set(float64(ts.Size))
	l.m.publishedSize.Set(float64(l.published))
	return l, nil
}

// Origin returns the log's origin.
func (l *Log) Origin() string { return l.origin }

// Rules returns the log's state rules.
func (l *Log) Rules() *state.Rules { return l.rules }

// Storage returns the log's storage.
func (l *Log) Storage() storage.Storage { return l.store }

// Run sequences and publishes until ctx is done, then finishes the batch
// in flight and returns. It returns early, with the error, if storage
// reports that another sequencer appended (a *storage.ConflictError).
func (l *Log) Run(ctx context.Context) error {
	pubCtx, cancelPub := context.WithCancel(context.WithoutCancel(ctx))
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		l.publishLoop(pubCtx)
	}()
	go l.mapWork.run(context.WithoutCancel(ctx))
	err := l.sequenceLoop(ctx)
	l.mapWork.close()
	l.mu.Lock()
	if err != nil {
		l.stopped = err
	} else {
		l.stopped = ErrStopped
	}
	l.mu.Unlock()
	// Fail whatever is still queued.
	for {
		select {
		case p := <-l.queue:
			p.resolve(0, false, ErrStopped)
			continue
		default:
		}
		break
	}
	// One last publication of what was committed, then stop publishing.
	l.publishOnce(pubCtx)
	cancelPub()
	<-pubDone
	return err
}

// LatestCheckpoint returns the latest checkpoint this log published (or
// found stored when it started), from memory: what storage's
// LatestCheckpoint returns while this log is the one that publishes,
// without a read of storage. signed must not be modified. ok is false
// before the first checkpoint, and once the log has stopped, when another
// sequencer may publish: the caller then reads storage.
func (l *Log) LatestCheckpoint() (size uint64, signed []byte, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pubNote == nil || l.stopped != nil {
		return 0, nil, false
	}
	return l.published, l.pubNote, true
}

// MapRoot returns the latest map-root entry's index and root, from
// memory, as LatestCheckpoint does the checkpoint: what storage's MapRoot
// returns while this log is the one that appends. ok is false before the
// first map-root entry and once the log has stopped.
func (l *Log) MapRoot() (mr storage.MapRoot, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mapRoot == nil || l.stopped != nil {
		return storage.MapRoot{}, false
	}
	return *l.mapRoot, true
}

// Stats is a snapshot of the log's sizes.
type Stats struct {
	Committed, Published uint64
	PublishedAt          time.Time
}

// Stats returns the committed and published sizes.
func (l *Log) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Stats{Committed: l.committed, Published: l.published, PublishedAt: l.pubTime}
}

// WaitPublished blocks until a checkpoint covering size entries is
// published, or ctx is done. It returns the published size.
func (l *Log) WaitPublished(ctx context.Context, size uint64) (uint64, error) {
	for {
		l.mu.Lock()
		pub, ch, stopped := l.published, l.pubCh, l.stopped
		l.mu.Unlock()
		if pub >= size {
			return pub, nil
		}
		if stopped != nil {
			return 0, stopped
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}
