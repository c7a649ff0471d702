// Package vmap is credlog's verifiable map (DESIGN.md §8): a sparse Merkle
// tree over 256-bit keys that holds, for every credential, its current
// status and, for every subject, a digest of the complete list of its
// events. It is a pure function of the log, and its root is committed in
// map-root entries.
//
// An inclusion proof shows that an event exists; it cannot show that no
// later revocation exists, nor that no second credential was issued to the
// same person. A proof from this map, against the root of a map-root entry
// that is itself in a witness-cosigned checkpoint, shows both: "as of this
// entry, credential C is active" and "as of this entry, the events naming
// subject L are exactly these". An auditor that replays the log
// ([Rebuild]) recomputes every root, so a log that commits to a wrong map
// signs the evidence against itself.
//
// The byte formats are specified in docs/MAP.md.
//
// # The tree
//
// The tree is the binary trie of the keys, with each subtree that holds
// exactly one key replaced by that key's leaf. Its hash is defined on the
// set of (key, value) pairs alone:
//
//	hash(S) = EmptyHash                         if S is empty
//	        = LeafHash(k, ValueHash(v))         if S = {(k, v)}
//	        = InteriorHash(hash(S0), hash(S1))  otherwise
//
// where S0 and S1 are the pairs of S whose key has 0 and 1 at the next
// bit. Leaves therefore sit at the depth where their key parts from every
// other key, about log2(n) for n random keys rather than 256, and a proof
// carries that many sibling hashes. Leaf and interior hashes are
// domain-separated ([LeafPrefix], [InteriorPrefix]) and a leaf hash
// includes the whole key, so a leaf can be neither taken for an interior
// node nor moved to another key's position.
//
// # Keys and values
//
// [CredentialKey] and [SubjectKey] derive the keys; [CredentialValue] and
// [SubjectValue] are the values, each with one canonical encoding that its
// parser enforces. [Pending], [CredentialUpdate] and [SubjectUpdate] turn
// the records of package state into map updates.
//
// # Proofs
//
// [Tree.Prove] returns a [Proof]: the sibling hashes along a key's path,
// with the empty ones given by a 256-bit bitmap instead of 32 bytes each.
// [VerifyMembership] and [VerifyAbsence] check one against a root;
// [VerifyCredentialStatus] and [VerifySubjectHistory] check the claims
// relying parties and holders make. [ParseProof] accepts only the
// canonical encoding.
//
// # Storage and batches
//
// A [Tree] reads its nodes through a [NodeReader], by position ([NodeID]),
// one tree level at a time. [Tree.Update] applies a batch of updates: it
// reads each position on the touched paths once, hashes each changed node
// once, in parallel near the root, and returns a [Diff] — the new root and
// the node writes — without writing anything, so that a log can store the
// Diff in the same transaction as the entries it derives from.
// [MemoryStore] keeps the nodes in memory; a database engine stores one
// row per node ([MarshalNode], [ParseNode]).
// [Cache] keeps the top levels of a stored tree in memory for the tree's
// one writer, which applies to it every Diff it stores.
//
// This package does no I/O of its own and imports no database, HTTP or
// metrics code, so that relying parties and holders can embed the
// verifiers.
//
// # Why a hand-written tree
//
// The tree, its proofs and their encoding are written here rather than
// taken from a library. filippo.io/torchwood's prefix tree (AKD-compatible)
// needs Go 1.27, beyond this module's Go 1.26, and is marked unstable.
// github.com/google/trillian's merkle/smt hashes every key down to depth
// 256 (some 256 hashes per update instead of about 20), has no compact
// proof encoding or verifier for absence, and would bring Trillian's
// module graph along. The construction here is small (a few hundred
// lines), and its tests check it against a direct implementation of the
// definition above.
package vmap
