// Package replay follows a credlog log over HTTP, in the C2SP tlog-tiles
// layout, and replays it as an auditor does: every entry the log's
// checkpoints commit to is fetched, hashed into the Merkle tree, parsed,
// checked against its issuer's signature and the state rules, and every
// map-root entry is checked against the verifiable map rebuilt from the
// entries before it.
//
// # Use
//
// [VerifyCheckpoint] (or [FetchCheckpoint]) checks a checkpoint against a
// c2sp.org/tlog-policy: the log's signature and the witness quorum. A
// [Replayer] starts at index 0 of one log and [Replayer.Advance] takes it
// to a verified checkpoint: it fetches the entries [Size, cp.Size), and
// returns nil only if the tree of all entries so far has the checkpoint's
// root and every new entry holds. A monitor calls Advance again with each
// new checkpoint; the tree is extended, not recomputed, so consistency with
// every earlier checkpoint is checked along the way. [Options.OnEntry] sees
// every entry with its parsed event and the state change it made.
//
// A Replayer keeps the whole state of the log in memory and always starts
// at index 0: the state rules need every earlier entry, and no stored
// state is trusted. A restarted monitor replays from 0 again (at the speed
// measured by the package's benchmarks) and may skip the callbacks of
// entries it has already seen.
//
// # Order of the checks
//
// Entries are processed in order, in chunks. Within a chunk, parsing, leaf
// hashing and Ed25519 verification run in parallel on every core; the state
// rules, the map and the callback run in order on one goroutine, while the
// next chunk is fetched and verified. The tree root is compared with the
// checkpoint once all entries are hashed. When an entry fails a check,
// Advance still hashes the rest of the range: if the root does not match,
// the entry bytes were not what the log committed to, and the error is a
// [*TreeError] (naming, when the log's hash tiles allow it, the first entry
// whose bytes differ), not a claim against the log. Only when the root
// matches is an [*EntryError] returned: then the entry is signed evidence.
//
// Callbacks run before the root is compared, so an entry seen by OnEntry
// is confirmed only when Advance returns nil.
//
// # Errors
//
// Checks that fail are typed and name the entry: [*EntryError] (wrapping
// [ErrMalformed], [ErrSignature], [ErrRule] with a *state.Violation, or
// [ErrMapRoot] with a *vmap.MismatchError) and [*TreeError] ([ErrTree]).
// After one of them the Replayer is failed for good and returns the same
// error. Other errors (fetching, a cancelled context) leave it usable:
// the entries already replayed stay replayed (Size says how many), and the
// next Advance goes on from there.
//
// # Hashes only
//
// With [Options.HashesOnly] a Replayer only checks the tree: entries are
// hashed, not parsed, verified or replayed, and OnEntry is not called.
//
// Fetching, tile paths and leaf-hash tiles use the reference tlog-tiles
// client, github.com/transparency-dev/tessera/client; the tree is
// github.com/transparency-dev/merkle's compact range. What is written here is
// the pipeline that puts them together with the state rules (package state)
// and the map (package vmap), which no library provides.
package replay
