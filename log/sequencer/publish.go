package sequencer

import (
	"context"
	"fmt"
	"time"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
)

func (l *Log) publishLoop(ctx context.Context) {
	t := time.NewTicker(l.cfg.PublishInterval)
	defer t.Stop()
	for {
		l.mu.Lock()
		commitCh := l.commitCh
		l.mu.Unlock()
		l.publishOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-commitCh:
		case <-t.C:
		}
	}
}

// publishOnce signs a checkpoint of the committed tree, if it is ahead of
// the published one, and publishes it.
func (l *Log) publishOnce(ctx context.Context) {
	// The publisher loop and Run's last publication must not both sign
	// and store the same size.
	l.pubMu.Lock()
	defer l.pubMu.Unlock()
	st := l.Stats()
	if st.Committed <= st.Published {
		return
	}
	if err := l.publish(ctx, st.Committed); err != nil {
		l.m.publishErrors.Inc()
		l.log.Warn("checkpoint not published", "size", st.Committed, "err", err)
	}
}

func (l *Log) publish(ctx context.Context, size uint64) error {
	// Sign only a committed tree: its root is read back from storage, so
	// the signed root is the durable one.
	ts, err := l.store.Tree(ctx)
	if err != nil {
		return fmt.Errorf("couldn't read the tree: %w", err)
	}
	if ts.Size < size {
		return fmt.Errorf("sequencer: stored tree has %d entries, committed %d", ts.Size, size)
	}
	signed, err := l.SignCheckpoint(ts.Size, ts.Root)
	if err != nil {
		return err
	}
	if l.cfg.Publish != nil {
		if signed, err = l.cfg.Publish(ctx, ts.Size, signed); err != nil {
			return fmt.Errorf("couldn't get the checkpoint witnessed: %w", err)
		}
	}
	if err := l.store.PutCheckpoint(ctx, ts.Size, signed); err != nil {
		return fmt.Errorf("couldn't store the checkpoint: %w", err)
	}
	l.mu.Lock()
	l.published, l.pubNote, l.pubTime = ts.Size, signed, time.Now()
	close(l.pubCh)
	l.pubCh = make(chan struct{})
	l.mu.Unlock()
	l.m.publishedSize.Set(float64(ts.Size))
	l.log.Debug("checkpoint published", "size", ts.Size)
	return nil
}

// SignCheckpoint returns a C2SP checkpoint of the tree, signed with the
// log's key: origin, size and root, no extension lines.
func (l *Log) SignCheckpoint(size uint64, root [32]byte) ([]byte, error) {
	cp := log.Checkpoint{Origin: l.origin, Size: size, Hash: root[:]}
	signed, err := note.Sign(&note.Note{Text: string(cp.Marshal())}, l.cfg.Signer.NoteSigner())
	if err != nil {
		return nil, fmt.Errorf("couldn't sign checkpoint: %w", err)
	}
	return signed, nil
}
