package replay

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/credlog/credlog/log/witnessclient/policy"
)

// Failure classes of VerifyCheckpoint.
var (
	// ErrCheckpoint: the checkpoint does not parse, names a log the policy
	// does not list, or is not signed by that log's key.
	ErrCheckpoint = errors.New("replay: checkpoint not signed by a log of the policy")
	// ErrQuorum: the checkpoint lacks the policy's witness quorum.
	ErrQuorum = errors.New("replay: witness quorum not met")
)

// Checkpoint is a checkpoint whose log signature and witness quorum were
// verified.
type Checkpoint struct {
	Origin string
	Size   uint64
	Hash   []byte // the tree root
	Raw    []byte // the signed note, verbatim, with its cosignatures
	// Witnesses are the policy names of the witnesses whose cosignatures
	// were verified.
	Witnesses []string
}

// CheckpointReader reads a log's latest checkpoint; tessera's
// client.HTTPFetcher is one.
type CheckpointReader interface {
	ReadCheckpoint(ctx context.Context) ([]byte, error)
}

// FetchCheckpoint reads the latest checkpoint with f and verifies it with
// VerifyCheckpoint.
func FetchCheckpoint(ctx context.Context, f CheckpointReader, pol *policy.Policy) (*Checkpoint, *policy.Log, error) {
	raw, err := f.ReadCheckpoint(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("couldn't fetch the checkpoint: %w", err)
	}
	return VerifyCheckpoint(raw, pol)
}

// VerifyCheckpoint checks that raw is a checkpoint signed by a log that
// pol lists (the one its origin line names) and cosigned by pol's witness
// quorum. It returns the checkpoint and the log. Errors wrap ErrCheckpoint
// or ErrQuorum.
func VerifyCheckpoint(raw []byte, pol *policy.Policy) (*Checkpoint, *policy.Log, error) {
	l, cp, n, err := pol.VerifyCheckpoint(raw)
	if errors.Is(err, policy.ErrQuorum) {
		return nil, nil, fmt.Errorf("%w: %w", ErrQuorum, err)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrCheckpoint, err)
	}
	cosigned := pol.Cosigners(n)
	var names []string
	for _, w := range pol.Witnesses {
		if cosigned[w.Name] {
			names = append(names, w.Name)
		}
	}
	return &Checkpoint{Origin: cp.Origin, Size: cp.Size, Hash: cp.Hash, Raw: raw, Witnesses: names}, l, nil
}

// LogKey returns the Ed25519 key of l, which signs map-root and
// registration entries; logs of other key types cannot be credlog logs.
func LogKey(l *policy.Log) (ed25519.PublicKey, error) {
	if len(l.Key) != 1+ed25519.PublicKeySize || l.Key[0] != 0x01 {
		return nil, fmt.Errorf("replay: log %q does not have an Ed25519 key", l.Verifier.Name())
	}
	return ed25519.PublicKey(l.Key[1:]), nil
}
