// Package entry is credlog's event model: the one kind of record the log
// holds, its canonical binary encoding, and the signature that binds it to
// its issuer.
//
// # Events
//
// Every log entry is one [Event]. Issuers write five types: [TypeIssue] (a
// reissue is an issue that names the credential it supersedes),
// [TypeRevoke], [TypeSuspend], [TypeResume] and [TypeIssuerKey] (key
// registration and rotation). The log itself writes [TypeMapRoot], signed
// with the log's key, to commit to the verifiable map.
//
// An event carries no personal data: the subject appears only as a 32-byte
// VRF label, the credential only as the SHA-256 of its certificate, times
// in whole seconds and reasons as coarse codes.
//
// # Encoding
//
// [Event.Marshal] and [Parse] implement the encoding specified byte for
// byte in docs/FORMAT.md. It is strict: every event has exactly one valid
// encoding, and Parse rejects unknown versions and types, trailing bytes,
// out-of-range fields and non-canonical forms with an error wrapping
// [ErrMalformed].
//
// # Signatures
//
// The signature is Ed25519 over [SignaturePrefix] followed by the encoding
// of every field but the signature itself ([Event.SignedMessage]). Which key
// must have signed is a question of log state, answered by package state.
//
// This package does no I/O and imports no database, HTTP or metrics code,
// so that relying parties can embed it.
package entry
