package fscktest

import (
	"crypto/rand"
	"testing"

	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/keys"
	"github.com/credlog/credlog/log/state"
)

// TestWorkload replays workloads through the state rules: every event
// obeys them, and every kind of event occurs.
func TestWorkload(t *testing.T) {
	skey, _, err := keys.Generate("log.example", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	lk, err := keys.ParseSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	rules := state.NewRules(lk.Name(), lk.Public())
	st := state.NewOverlay(nil)
	iss, err := NewIssuer("id.example")
	if err != nil {
		t.Fatal(err)
	}
	reg, err := iss.Registration(lk)
	if err != nil {
		t.Fatal(err)
	}
	apply := func(i uint64, raw []byte) *entry.Event {
		ev, err := entry.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if err := rules.ApplyTo(st, ev, i, nil); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		return ev
	}
	apply(0, reg)
	loads := []*Workload{iss.Workload("a", 1), iss.Workload("b", 2)}
	kinds := map[string]int{}
	for i := uint64(1); i <= 2000; i++ {
		raw, err := loads[i%2].Next()
		if err != nil {
			t.Fatal(err)
		}
		ev := apply(i, raw)
		kind := ev.Type.String()
		if ev.Supersedes != nil {
			kind = "reissue"
		}
		kinds[kind]++
	}
	for _, k := range []string{"issue", "reissue", "suspend", "resume", "revoke"} {
		if kinds[k] == 0 {
			t.Errorf("no %s event in %v", k, kinds)
		}
	}
	t.Log(kinds)
}
