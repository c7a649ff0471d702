package policy_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/credlog/credlog/log/witnessclient/policy"
)

// FuzzParse checks that Parse never panics, that its errors are
// [*policy.Error] values, and that what it accepts is well formed: every
// reference resolves to an earlier definition, every threshold is in range,
// the quorum is met by all witnesses (and by none only for "quorum none"),
// and the policy written back in canonical form parses to the same policy.
func FuzzParse(f *testing.F) {
	f.Add([]byte(example))
	f.Add([]byte("quorum none\n"))
	f.Add([]byte("witness a " + wk1 + "\nwitness b " + wk2 + "\ngroup g1 any a b\ngroup g2 all a g1\nquorum g2\n"))
	f.Add([]byte("witness w1 " + wk1 + "\ngroup g 2 w1 w1\nquorum g\n"))
	f.Add([]byte("log " + logKey + "\nlog " + logKey + "\nquorum none\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := policy.Parse(data)
		if err != nil {
			var perr *policy.Error
			if p != nil || !errors.As(err, &perr) {
				t.Fatalf("Parse = %v, %#v", p, err)
			}
			return
		}
		checkWellFormed(t, p)
		again, err := policy.Parse([]byte(canonical(p)))
		if err != nil {
			t.Fatalf("canonical form %q does not parse: %v", canonical(p), err)
		}
		if canonical(again) != canonical(p) {
			t.Fatalf("canonical form changed:\n%s\n%s", canonical(p), canonical(again))
		}
	})
}

func checkWellFormed(t *testing.T, p *policy.Policy) {
	t.Helper()
	line := map[string]int{}
	for _, w := range p.Witnesses {
		line[w.Name] = w.Line
		if p.Witness(w.Name) != w || w.Verifier == nil || w.Name == policy.None {
			t.Fatalf("witness %+v", w)
		}
	}
	for _, g := range p.Groups {
		if g.Threshold < 1 || g.Threshold > len(g.Members) || p.Group(g.Name) != g || g.Name == policy.None {
			t.Fatalf("group %+v", g)
		}
		for i, m := range g.Members {
			if l, ok := line[m]; !ok || l >= g.Line || slices.Contains(g.Members[:i], m) {
				t.Fatalf("group %+v: member %q", g, m)
			}
		}
		line[g.Name] = g.Line
	}
	if _, ok := line[p.Quorum]; !ok && p.Quorum != policy.None {
		t.Fatalf("quorum %q", p.Quorum)
	}
	all := map[string]bool{}
	for _, w := range p.Witnesses {
		all[w.Name] = true
	}
	if !p.Satisfied(all) || p.Satisfied(nil) != (p.Quorum == policy.None) {
		t.Fatalf("quorum %q: satisfied by all %v, by none %v", p.Quorum, p.Satisfied(all), p.Satisfied(nil))
	}
}

// canonical writes p back: logs, witnesses, groups, quorum, one space
// between fields.
func canonical(p *policy.Policy) string {
	var b strings.Builder
	for _, l := range p.Logs {
		fmt.Fprintln(&b, strings.TrimSpace("log "+l.VKey+" "+l.URL))
	}
	for _, w := range p.Witnesses {
		fmt.Fprintln(&b, strings.TrimSpace("witness "+w.Name+" "+w.VKey+" "+w.URL))
	}
	for _, g := range p.Groups {
		fmt.Fprintf(&b, "group %s %d %s\n", g.Name, g.Threshold, strings.Join(g.Members, " "))
	}
	fmt.Fprintf(&b, "quorum %s\n", p.Quorum)
	return b.String()
}
