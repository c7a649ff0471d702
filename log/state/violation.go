package state

import (
	"errors"
	"fmt"
)

// Rule names one state rule. The names appear in API errors.
type Rule string

// The rules an event can break.
const (
	RuleUnknownIssuer      Rule = "unknown-issuer"
	RuleWrongKey           Rule = "wrong-key"
	RuleBadSignature       Rule = "bad-signature"
	RuleIssueNotNew        Rule = "issue-not-new"
	RuleVersionNotDense    Rule = "version-not-dense"
	RuleMustSupersede      Rule = "must-supersede-live-credential"
	RuleSupersedesOther    Rule = "supersedes-other-subject"
	RuleUnknownCredential  Rule = "unknown-credential"
	RuleSubjectMismatch    Rule = "subject-mismatch"
	RuleRevokedIsTerminal  Rule = "revoked-is-terminal"
	RuleSupersededIsEnded  Rule = "superseded-is-ended"
	RuleSuspendFromActive  Rule = "suspend-only-from-active"
	RuleResumeFromSuspend  Rule = "resume-only-from-suspended"
	RuleVRFKeyFixed        Rule = "vrf-key-fixed"
	RuleVRFKeyInvalid      Rule = "vrf-key-invalid"
	RuleKeyUnchanged       Rule = "rotation-to-same-key"
	RuleMapRootSigner      Rule = "map-root-signed-by-log"
	RuleMapRootSize        Rule = "map-root-covers-prefix"
	RuleRegistrationSigner Rule = "registration-signed-by-log"
)

// Classes of violation, for callers that map them to responses: a
// violation wraps exactly one of these.
var (
	// ErrUnauthorized: the event is not signed by the key the log records
	// for its issuer, or its issuer is unknown.
	ErrUnauthorized = errors.New("state: event not authorized")
	// ErrConflict: the event is well signed but breaks a state rule.
	ErrConflict = errors.New("state: event breaks a state rule")
)

// Violation is an event's breach of a state rule.
type Violation struct {
	Rule   Rule
	Detail string
	class  error
}

func (v *Violation) Error() string {
	return fmt.Sprintf("state: rule %s: %s", v.Rule, v.Detail)
}

// Unwrap returns ErrUnauthorized or ErrConflict.
func (v *Violation) Unwrap() error { return v.class }

func conflict(r Rule, format string, args ...any) *Violation {
	return &Violation{Rule: r, Detail: fmt.Sprintf(format, args...), class: ErrConflict}
}

func unauthorized(r Rule, format string, args ...any) *Violation {
	return &Violation{Rule: r, Detail: fmt.Sprintf(format, args...), class: ErrUnauthorized}
}
