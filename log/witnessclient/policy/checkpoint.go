package policy

import (
	"errors"
	"fmt"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
)

// ErrQuorum is returned by VerifyCheckpoint for a checkpoint that its log
// signed but that lacks the policy's witness quorum.
var ErrQuorum = errors.New("policy: witness quorum not met")

// LogByOrigin returns the log of p whose key is named origin, or nil.
func (p *Policy) LogByOrigin(origin string) *Log {
	for _, l := range p.Logs {
		if l.Verifier.Name() == origin {
			return l
		}
	}
	return nil
}

// WitnessVerifiers returns the verifiers of p's witnesses, in file order.
func (p *Policy) WitnessVerifiers() []note.Verifier {
	vs := make([]note.Verifier, len(p.Witnesses))
	for i, w := range p.Witnesses {
		vs[i] = w.Verifier
	}
	return vs
}

// Cosigners returns the policy names of p's witnesses whose signatures n
// carries. n must come from note.Open with the witnesses' verifiers, so
// that its Sigs are verified ones.
func (p *Policy) Cosigners(n *note.Note) map[string]bool {
	cosigned := make(map[string]bool)
	for _, s := range n.Sigs {
		for _, w := range p.Witnesses {
			if s.Name == w.Verifier.Name() && s.Hash == w.Verifier.KeyHash() {
				cosigned[w.Name] = true
			}
		}
	}
	return cosigned
}

// VerifyCheckpoint checks that signed is a checkpoint (c2sp.org/tlog-
// checkpoint) of one of p's logs, signed by that log's key, and that p's
// quorum of witnesses cosigned it. It returns the log, the checkpoint and
// the note with its verified signatures. A checkpoint that is the log's
// but lacks the quorum gets an error wrapping ErrQuorum, with the log, the
// checkpoint and the note nonetheless, so that the caller can keep it as
// evidence.
func (p *Policy) VerifyCheckpoint(signed []byte) (*Log, *log.Checkpoint, *note.Note, error) {
	origin := firstLine(signed)
	l := p.LogByOrigin(origin)
	if l == nil {
		return nil, nil, nil, fmt.Errorf("policy: checkpoint is of log %q, which the policy does not name", origin)
	}
	cp, _, n, err := log.ParseCheckpoint(signed, origin, l.Verifier, p.WitnessVerifiers()...)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("policy: checkpoint of %q: %w", origin, err)
	}
	cosigned := p.Cosigners(n)
	if !p.Satisfied(cosigned) {
		return l, cp, n, fmt.Errorf("%w: checkpoint of %q at size %d is cosigned by %d witnesses of the policy, short of quorum %q",
			ErrQuorum, origin, cp.Size, len(cosigned), p.Quorum)
	}
	return l, cp, n, nil
}

func firstLine(b []byte) string {
	for i, c := range b {
		if c == '\n' {
			return string(b[:i])
		}
	}
	return string(b)
}
