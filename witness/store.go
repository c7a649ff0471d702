package witness

import (
	"context"
	"time"
)

// Store is the witness's durable state. Its contract is what keeps the
// witness from cosigning a rollback or a fork, so every implementation must
// hold it exactly:
//
//   - Logs are only ever added, with their keys; never removed or re-keyed.
//   - [Store.Advance] is an atomic compare-and-swap, durable (on stable
//     storage, surviving a crash of the machine) when it returns nil.
//   - History and evidence are append-only.
type Store interface {
	// Log returns the state of the log with the given origin, or an error
	// wrapping [ErrUnknownLog].
	Log(ctx context.Context, origin string) (*LogState, error)

	// LogByOriginHash returns the state of the log whose origin has the
	// given SHA-256 hash, or an error wrapping [ErrUnknownLog].
	LogByOriginHash(ctx context.Context, hash [32]byte) (*LogState, error)

	// Advance makes next the latest cosigned checkpoint of next.Origin and
	// appends it to the history, in one transaction, only if the stored
	// latest checkpoint still has the size and root hash of prev (or, if
	// prev is nil, there is still none). Otherwise it writes nothing and
	// returns [ErrStateChanged]. When it returns nil the change is durable.
	Advance(ctx context.Context, prev *Latest, next *HistoryEntry) error

	// ConflictAt returns a cosigned checkpoint from the history of origin
	// with the given size and a root hash other than root, or nil if there
	// is none.
	ConflictAt(ctx context.Context, origin string, size uint64, root []byte) (*HistoryEntry, error)

	// AddEvidence durably stores evidence of equivocation, unless the same
	// pair of roots for that origin and size is already stored. It reports
	// whether the evidence is new.
	AddEvidence(ctx context.Context, e *Evidence) (bool, error)

	// History returns up to limit cosigned checkpoints of origin with an ID
	// larger than after, in the order they were cosigned.
	History(ctx context.Context, origin string, after int64, limit int) ([]*HistoryEntry, error)

	// Evidence returns up to limit pieces of evidence with an ID larger
	// than after, in the order they were found.
	Evidence(ctx context.Context, after int64, limit int) ([]*Evidence, error)
}

// LogState is what the witness knows of one log.
type LogState struct {
	Origin string `json:"origin"`
	// OriginHash is the lowercase hex SHA-256 of Origin, the path prefix of
	// the log's monitoring endpoint.
	OriginHash string `json:"origin_hash"`
	// Keys are the signed-note verifier keys trusted for the log.
	Keys []string `json:"keys"`
	// Added is when the log was added.
	Added time.Time `json:"added"`
	// Latest is the latest checkpoint the witness cosigned, nil if none.
	Latest *Latest `json:"latest,omitempty"`
}

// Latest is the latest checkpoint a witness cosigned for a log.
type Latest struct {
	Size uint64 `json:"size"`
	Root []byte `json:"root"`
	// Checkpoint is the signed checkpoint note exactly as the log sent it.
	Checkpoint string `json:"checkpoint"`
	// Cosigned is the checkpoint text with the log signatures that the
	// witness verified and the witness's cosignature: what the monitoring
	// endpoint serves.
	Cosigned string `json:"cosigned"`
}

// HistoryEntry is one checkpoint the witness cosigned.
type HistoryEntry struct {
	// ID orders the history; it is assigned by the store.
	ID     int64  `json:"id"`
	Origin string `json:"origin"`
	Size   uint64 `json:"size"`
	Root   []byte `json:"root"`
	// Checkpoint is the signed checkpoint note exactly as the log sent it.
	Checkpoint string `json:"checkpoint"`
	// Cosigned is as in [Latest].
	Cosigned string `json:"cosigned"`
	// Cosignature is the witness's signature line(s), as returned.
	Cosignature string `json:"cosignature"`
	// Time is the cosignature's timestamp.
	Time time.Time `json:"time"`
}

// Evidence is a pair of checkpoints, both signed by a log's trusted key,
// that cannot both be true: same origin and size, different root hashes;
// or, with Proof, a checkpoint of a larger size whose tree has, by a
// correct consistency proof, another root at the size of the first.
type Evidence struct {
	// ID orders the evidence; it is assigned by the store.
	ID       int64     `json:"id"`
	Origin   string    `json:"origin"`
	Size     uint64    `json:"size"`
	Detected time.Time `json:"detected"`
	// First is the checkpoint the witness had cosigned, verbatim.
	First     string `json:"first"`
	FirstRoot []byte `json:"first_root"`
	// Second is the conflicting checkpoint the log sent later, verbatim.
	Second     string `json:"second"`
	SecondRoot []byte `json:"second_root"`
	// Proof, when set, is a consistency proof from Size to the size of
	// Second that verifies against Second's root hash and yields
	// SecondRoot at Size: Second's tree does not extend First's.
	Proof [][]byte `json:"proof,omitempty"`
}
