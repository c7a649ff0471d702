package witnessclient

import (
	"errors"
	"fmt"
	"strings"
)

// Kind classifies why a witness did not cosign. Kinds are the values of
// the "kind" label of credlog_witness_request_errors_total.
type Kind string

// The kinds of witness errors.
const (
	// KindNetwork: the request failed below HTTP (refused, reset, DNS).
	KindNetwork Kind = "network"
	// KindTimeout: no answer within the round's timeout.
	KindTimeout Kind = "timeout"
	// KindCancelled: the request was cancelled, because the quorum was met
	// and the witness was slower than the grace period, or on shutdown.
	KindCancelled Kind = "cancelled"
	// KindProof: the log could not build the consistency proof.
	KindProof Kind = "proof"
	// KindAhead: the witness cosigned a larger tree than the checkpoint:
	// the log cannot prove consistency to it. Either the log lost
	// entries it had published to that witness, or someone else signs
	// with the log's key: a possible split view.
	KindAhead Kind = "ahead"
	// KindConflict: a 409 that a retry with the corrected size did not
	// resolve, or a 409 without the text/x.tlog.size size body.
	KindConflict Kind = "conflict"
	// KindBadRequest, KindForbidden, KindUnknownLog, KindBadProof: 400,
	// 403, 404 and 422 answers (see c2sp.org/tlog-witness).
	KindBadRequest Kind = "bad_request"
	KindForbidden  Kind = "forbidden"
	KindUnknownLog Kind = "unknown_log"
	KindBadProof   Kind = "bad_proof"
	// KindRateLimited: a 429; the witness is not called again before its
	// Retry-After.
	KindRateLimited Kind = "rate_limited"
	// KindServerError: a 5xx answer.
	KindServerError Kind = "server_error"
	// KindStatus: any other unexpected status code.
	KindStatus Kind = "status"
	// KindBadResponse: a 200 whose body is not a valid cosignature from
	// the witness's key.
	KindBadResponse Kind = "bad_response"
)

// WitnessError is why one witness did not cosign a checkpoint.
type WitnessError struct {
	// Witness is the witness's name in the policy.
	Witness string
	Kind    Kind
	Err     error
}

// Error implements error.
func (e *WitnessError) Error() string {
	return fmt.Sprintf("witness %q: %s: %s", e.Witness, e.Kind, e.Err)
}

// Unwrap returns the underlying error.
func (e *WitnessError) Unwrap() error { return e.Err }

// ErrQuorum is wrapped by every [*QuorumError].
var ErrQuorum = errors.New("witnessclient: witness quorum not met")

// QuorumError is returned by [Client.Publish] when the verified
// cosignatures do not meet the policy's quorum: the checkpoint must not be
// published.
type QuorumError struct {
	// Size is the checkpoint's tree size.
	Size uint64
	// Quorum is the policy's quorum name.
	Quorum string
	// Cosigned are the witnesses that cosigned, in policy order.
	Cosigned []string
	// Failures are the other witnesses' errors, in policy order.
	Failures []*WitnessError
}

// Error implements error.
func (e *QuorumError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "witnessclient: quorum %q not met for the checkpoint of size %d: cosigned by [%s]",
		e.Quorum, e.Size, strings.Join(e.Cosigned, " "))
	for _, f := range e.Failures {
		fmt.Fprintf(&b, "; %s", f)
	}
	return b.String()
}

// Unwrap returns [ErrQuorum] and the witnesses' errors.
func (e *QuorumError) Unwrap() []error {
	errs := []error{ErrQuorum}
	for _, f := range e.Failures {
		errs = append(errs, f)
	}
	return errs
}
