// Package witness is a transparency log witness: it implements
// c2sp.org/tlog-witness for any log that publishes c2sp.org/tlog-checkpoint
// checkpoints, and returns Ed25519 c2sp.org/tlog-cosignature cosignatures.
//
// # Threat model
//
// The log is the adversary. It may show one history to one party and
// another to someone else (a split view). A witness prevents that by
// cosigning only checkpoints that are consistent with every checkpoint it
// cosigned before for the same log: clients that require a quorum of
// independent witnesses' cosignatures then all see one history. So a
// witness must never cosign a rollback or a fork, across concurrent
// requests, crashes and restarts: its state is updated by an atomic
// compare-and-swap, durable before it answers ([Store]).
//
// Beyond the specification, the witness keeps what it saw:
//
//   - History: every checkpoint it cosigned, verbatim with its
//     cosignature, append-only, so what a witness signed can be audited.
//
//   - Equivocation evidence: two checkpoints, both signed by a trusted key
//     of the log, with the same size and different root hashes. They
//     cannot both be true, and are stored verbatim ([Evidence]) and logged
//     at error level. Also evidence: a consistency proof that is correct
//     for a new log-signed checkpoint's tree (it reproduces its root) but
//     implies another root at the cosigned size. A consistency proof that
//     is not correct for the new tree is only a bad request (422), never
//     evidence: anyone can send garbage.
//
//   - Pull mode ([Witness.Pull], [Witness.Follow]): given a log's
//     tlog-tiles URL, the witness fetches its checkpoint, builds the
//     consistency proof itself from the log's tiles (with the
//     transparency-dev/tessera client), and cosigns through the same
//     checks as a pushed request, so a log cannot dodge a witness by
//     never calling it.
//
// # Decisions
//
// Extension lines: a checkpoint with extension lines is cosigned over its
// full text, extension lines included. Ed25519 cosignature/v1 requires it
// ("if present MUST be included in the cosigned message"), and refusing
// would make the witness unusable for logs that use them; like the
// specification says, the cosignature makes no statement about them. The
// witness never signs the three mandatory lines alone.
//
// Canonical checkpoints: the checkpoint is re-encoded from its parsed
// fields and must equal the received text, so there is one accepted
// encoding of each checkpoint and the bytes signed are the bytes parsed.
//
// Cosignature algorithm: Ed25519 cosignature/v1 (key ID over signature
// type 0x04). tlog-witness recommends ML-DSA-44 for new witnesses; Ed25519
// is what the public witness network and credlog's clients verify today.
//
// Trust on first use: a log known by its keys but with no stored
// checkpoint accepts only old size 0 (a request with another old size gets
// 409 with size 0), as the specification says.
//
// Rate limit: each log has a per-day request budget ([Options]), counted
// only once the log's own signature verified, so that nobody else can spend
// a log's budget. It is kept in memory.
//
// # What is hand-written, and why
//
// All cryptography and every public format come from libraries: signed
// notes (golang.org/x/mod/sumdb/note), checkpoint parsing and the Ed25519
// cosignature/v1 signer and verifiers (github.com/transparency-dev/formats),
// and RFC 6962 consistency proof verification
// (github.com/transparency-dev/merkle). This package writes only what no
// library provides:
//
//   - the add-checkpoint request parser ([ParseRequest]); no library parses
//     tlog-witness request bodies, so it is fuzzed;
//   - the canonical-encoding check on checkpoints, because the library
//     parser is lenient (leading zeroes, non-canonical base64);
//   - loading and checking the witness key file (key ID, key name) and
//     formatting its 0x04 verifier key, because the library checks neither
//     and has no generator for 0x04 keys;
//   - the SQLite state with its compare-and-swap, history and evidence;
//   - the root a consistency proof implies for the old size ([priorRoot]),
//     which the merkle library verifies but does not expose;
//   - the per-log rate limiter and the HTTP handlers.
package witness
