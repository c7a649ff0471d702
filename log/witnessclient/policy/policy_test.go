package policy_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	fnote "github.com/transparency-dev/formats/note"
	fwitness "github.com/transparency-dev/formats/witness"

	"github.com/credlog/credlog/log/witnessclient/policy"
)

// Test keys: three Ed25519 cosignature/v1 witness keys (type 0x04), a log
// key (type 0x01), and a plain note key named like a witness.
const (
	wk1    = "w1.example+7ac47b4e+BBv5dUkuyDWd3Bx0j+fig0BR3QOnFa3MJ8WcjWyml9Ed"
	wk2    = "w2.example+63670701+BHnW+CrviUFCm3q/GOrzYVTgy+yNNrtne9NzAFDsjNjB"
	wk3    = "w3.example+63be27d0+BCyRqCN+G+RMJUi4IOy4z134a8i8FE/1VCwuBxXCo/6k"
	logKey = "log.example/credlog+51d5a778+Ae1gUEpKu5nFrNSAJ0YcN/Wvb9BltpaC39dJKLOtRejT"
	noteW1 = "w1.example+870f35f0+ATuoBXiz8R9cpJbTf1LuUe6rKCa6z2LpM/SXBFVDhsUM"
)

var example = `log ` + logKey + ` https://log.example/credlog/
witness w1 ` + wk1 + ` https://w1.example/
witness w2 ` + wk2 + ` https://w2.example/witness
witness w3 ` + wk3 + ` http://127.0.0.1:7380
group majority 2 w1 w2 w3
quorum majority
`

func TestParseExample(t *testing.T) {
	p, err := policy.Parse([]byte(example))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Logs) != 1 || p.Logs[0].VKey != logKey || p.Logs[0].URL != "https://log.example/credlog/" ||
		p.Logs[0].Verifier.Name() != "log.example/credlog" || p.Logs[0].Key[0] != 0x01 || p.Logs[0].Line != 1 {
		t.Errorf("logs: %+v", p.Logs[0])
	}
	if len(p.Witnesses) != 3 {
		t.Fatalf("%d witnesses", len(p.Witnesses))
	}
	for i, want := range []struct{ name, vkey, url string }{
		{"w1", wk1, "https://w1.example/"},
		{"w2", wk2, "https://w2.example/witness"},
		{"w3", wk3, "http://127.0.0.1:7380"},
	} {
		w := p.Witnesses[i]
		if w.Name != want.name || w.VKey != want.vkey || w.URL != want.url || w.Line != i+2 || w.Key[0] != 0x04 ||
			w.Verifier.Name() != want.name+".example" || p.Witness(want.name) != w {
			t.Errorf("witness %d: %+v", i, w)
		}
	}
	g := p.Group("majority")
	if len(p.Groups) != 1 || g == nil || g.Threshold != 2 || strings.Join(g.Members, ",") != "w1,w2,w3" || g.Line != 5 {
		t.Errorf("groups: %+v", p.Groups)
	}
	if p.Quorum != "majority" {
		t.Errorf("quorum %q", p.Quorum)
	}
}

// cosigned returns the set of the given witness names.
func cosigned(names ...string) map[string]bool {
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	return m
}

func TestSatisfied(t *testing.T) {
	nested := `
witness X1 ` + wk1 + `
witness X2 ` + wk2 + `
group X 2 X1 X2
witness Y1 ` + wk3 + `
group Y any Y1
group X-and-Y all X Y
quorum X-and-Y
`
	for _, tc := range []struct {
		name, policy string
		sets         map[string]bool // comma-separated witnesses → satisfied
	}{
		{"2 of 3", example, map[string]bool{"": false, "w1": false, "w3": false, "w1,w2": true, "w2,w3": true, "w1,w2,w3": true,
			"majority": false, "w1,majority": false}},
		{"nested", nested, map[string]bool{"X1,X2": false, "X1,Y1": false, "X1,X2,Y1": true, "X,Y": false}},
		{"single witness", "witness w " + wk1 + "\nquorum w\n", map[string]bool{"": false, "w": true, "x": false}},
		{"none", "quorum none\n", map[string]bool{"": true}},
		{"none with witnesses", "witness w " + wk1 + "\nquorum none\n", map[string]bool{"": true, "w": true}},
		{"all", "witness a " + wk1 + "\nwitness b " + wk2 + "\ngroup g all a b\nquorum g\n", map[string]bool{"a": false, "a,b": true}},
		{"keywords as names", "witness any " + wk1 + "\nwitness all " + wk2 + "\ngroup g any all any\nquorum g\n",
			map[string]bool{"": false, "all": true, "any": true}},
	} {
		p, err := policy.Parse([]byte(tc.policy))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		for set, want := range tc.sets {
			var names []string
			if set != "" {
				names = strings.Split(set, ",")
			}
			if got := p.Satisfied(cosigned(names...)); got != want {
				t.Errorf("%s: Satisfied(%s) = %v, want %v", tc.name, set, got, want)
			}
		}
	}
}

func TestParseAccepts(t *testing.T) {
	for name, text := range map[string]string{
		"quorum none only": "quorum none\n",
		"no final newline": "quorum none",
		"comments and blank lines": "# a policy\n\n   # indented comment\n\t\nwitness w1 " + wk1 + " https://w1.example/\n" +
			"  \t quorum \t w1 \t \n# end\n",
		"comment-like name":   "witness #w " + wk1 + "\nquorum none\n",
		"no URLs":             "log " + logKey + "\nwitness w1 " + wk1 + "\nquorum w1\n",
		"opaque octet names":  "witness K " + wk1 + "\nwitness \xe2\x84\xaa " + wk2 + "\ngroup \xff 2 K \xe2\x84\xaa\nquorum \xff\n",
		"groups of groups":    "witness a " + wk1 + "\nwitness b " + wk2 + "\ngroup g1 1 a\ngroup g2 1 b\ngroup g3 2 g1 g2\nquorum g3\n",
		"witness in 2 groups": "witness a " + wk1 + "\nwitness b " + wk2 + "\ngroup g1 any a b\ngroup g2 all a g1\nquorum g2\n",
	} {
		if _, err := policy.Parse([]byte(text)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestParseRejects(t *testing.T) {
	w1 := "witness w1 " + wk1 + "\n"
	w12 := w1 + "witness w2 " + wk2 + "\n"
	for _, tc := range []struct{ name, text, err string }{
		{"empty", "", `no quorum line (use "quorum none" to require no cosignature)`},
		{"no quorum", w12 + "group g 1 w1 w2\n", `no quorum line (use "quorum none" to require no cosignature)`},
		{"CRLF", "quorum none\r\n", `line 1: carriage return (0x0d): lines must end in a bare newline`},
		{"NUL", "# a\x00\nquorum none\n", `line 1: control character 0x00`},
		{"DEL", "quorum none\n\x7f\n", `line 2: control character 0x7f`},
		{"vertical tab", "quorum\vnone\n", `line 1: control character 0x0b`},
		{"unknown keyword", "witnesses w1 " + wk1 + "\n", `line 1: unknown keyword "witnesses" (want log, witness, group or quorum)`},
		{"keyword case", "Quorum none\n", `line 1: unknown keyword "Quorum" (want log, witness, group or quorum)`},
		{"unicode space", "quorum\u00a0none\n", `line 1: unknown keyword "quorum\u00a0none" (want log, witness, group or quorum)`},

		{"log without key", "log\n", `line 1: log line has 0 fields after "log", want <vkey> [<url>]`},
		{"log with extra field", "log " + logKey + " https://log.example/ x\n", `line 1: log line has 3 fields after "log", want <vkey> [<url>]`},
		{"log trailing comment", "log " + logKey + " # ours\n", `line 1: log line has 3 fields after "log", want <vkey> [<url>]`},
		{"log key is a witness key", "log " + wk1 + "\n", `line 1: log key "` + wk1 + `": signature type 0x04 is a witness cosignature key, not a log key`},
		{"log key ID", "log log.example/credlog+51d5a779+Ae1gUEpKu5nFrNSAJ0YcN/Wvb9BltpaC39dJKLOtRejT\n",
			`line 1: log key "log.example/credlog+51d5a779+Ae1gUEpKu5nFrNSAJ0YcN/Wvb9BltpaC39dJKLOtRejT": key ID 51d5a779 does not match the key (want 51d5a778)`},
		{"log key type", "log x+00000000+BwAA\n", `line 1: log key "x+00000000+BwAA": signature type 0x07 is not a supported log key type (0x01 Ed25519, 0x02 ECDSA, 0x05 RFC 6962)`},
		{"log key form", "log example.com/log\n", `line 1: log key "example.com/log": not of the form <name>+<key ID>+<base64 key>`},
		{"log key empty name", "log +51d5a778+Ae1gUEpKu5nFrNSAJ0YcN/Wvb9BltpaC39dJKLOtRejT\n",
			`line 1: log key "+51d5a778+Ae1gUEpKu5nFrNSAJ0YcN/Wvb9BltpaC39dJKLOtRejT": not of the form <name>+<key ID>+<base64 key>`},
		{"log twice", "log " + logKey + "\nlog " + logKey + " https://log.example/\n", `line 2: duplicate log: same public key as the log on line 1`},
		{"log URL scheme", "log " + logKey + " ftp://log.example/\n", `line 1: log URL "ftp://log.example/": not an absolute http or https URL`},
		{"log URL relative", "log " + logKey + " /log\n", `line 1: log URL "/log": not an absolute http or https URL`},

		{"witness without key", "witness w1\n", `line 1: witness line has 1 fields after "witness", want <name> <vkey> [<url>]`},
		{"witness trailing comment", "witness w1 " + wk1 + " https://w1.example/ # first\n",
			`line 1: witness line has 5 fields after "witness", want <name> <vkey> [<url>]`},
		{"witness named none", "witness none " + wk1 + "\n", `line 1: "none" is predefined and cannot name a witness or group`},
		{"witness name twice", w1 + "witness w1 " + wk2 + "\n", `line 2: name "w1" is already defined on line 1`},
		{"witness key twice", w1 + "witness w2 " + wk1 + "\n", `line 2: duplicate witness: "w2" has the same public key as "w1" on line 1`},
		{"witness note key", "witness w1 " + noteW1 + "\n",
			`line 1: witness "w1" key "` + noteW1 + `": signature type 0x01 is a plain Ed25519 note key; a witness key is a cosignature/v1 key, type 0x04 (Ed25519) or 0x06 (ML-DSA-44)`},
		{"witness log key type", "witness w1 x+00000000+AgAA\n",
			`line 1: witness "w1" key "x+00000000+AgAA": signature type 0x02 is not a cosignature/v1 key type (0x04 Ed25519, 0x06 ML-DSA-44)`},
		{"witness key ID", "witness w1 w1.example+7ac47b4f+BBv5dUkuyDWd3Bx0j+fig0BR3QOnFa3MJ8WcjWyml9Ed\n",
			`line 1: witness "w1" key "w1.example+7ac47b4f+BBv5dUkuyDWd3Bx0j+fig0BR3QOnFa3MJ8WcjWyml9Ed": key ID 7ac47b4f does not match the key (want 7ac47b4e)`},
		{"witness key ID short", "witness w1 w1.example+7ac47b4+BBv5dUkuyDWd3Bx0j+fig0BR3QOnFa3MJ8WcjWyml9Ed\n",
			`line 1: witness "w1" key "w1.example+7ac47b4+BBv5dUkuyDWd3Bx0j+fig0BR3QOnFa3MJ8WcjWyml9Ed": key ID "7ac47b4" is not 8 hex digits`},
		{"witness key base64", "witness w1 w1.example+7ac47b4e+BBv5dUkuyDWd3Bx0j+fig0BR3QOnFa3MJ8WcjWyml9Ed=\n",
			`line 1: witness "w1" key "w1.example+7ac47b4e+BBv5dUkuyDWd3Bx0j+fig0BR3QOnFa3MJ8WcjWyml9Ed=": key is not canonical base64`},
		{"witness key short", "witness w1 w1.example+7ac47b4e+BBv5dUku\n",
			`line 1: witness "w1" key "w1.example+7ac47b4e+BBv5dUku": Ed25519 public key is 5 bytes, want 32`},
		{"log key short", "log x+00000000+AQAA\n", `line 1: log key "x+00000000+AQAA": Ed25519 public key is 2 bytes, want 32`},
		{"witness URL query", "witness w1 " + wk1 + " https://w1.example/?log=x\n",
			`line 1: witness "w1" URL "https://w1.example/?log=x": URL has user info, a query or a fragment`},
		{"witness URL no host", "witness w1 " + wk1 + " https:///add-checkpoint\n",
			`line 1: witness "w1" URL "https:///add-checkpoint": not an absolute http or https URL`},

		{"group without members", w1 + "group g 1\n", `line 2: group line has 2 fields after "group", want <name> <all|any|k> <member>...`},
		{"group all without members", w1 + "group g all\n", `line 2: group line has 2 fields after "group", want <name> <all|any|k> <member>...`},
		{"group forward reference", w1 + "group g 1 w1 w2\nwitness w2 " + wk2 + "\n", `line 2: group "g": member "w2" is not defined on a preceding line`},
		{"group member none", w1 + "group g 1 w1 none\n", `line 2: group "g": "none" cannot be a group member`},
		{"group member twice", w12 + "group g 2 w1 w1\n", `line 3: group "g" lists member "w1" twice`},
		{"group itself", w1 + "group g 1 g\n", `line 2: group "g" lists itself as a member`},
		{"group name taken", w1 + "group w1 1 w1\n", `line 2: name "w1" is already defined on line 1`},
		{"group named none", w1 + "group none 1 w1\n", `line 2: "none" is predefined and cannot name a witness or group`},
		{"threshold 0", w12 + "group g 0 w1 w2\n", `line 3: group "g": threshold 0 is not between 1 and the number of members, 2`},
		{"threshold above n", w12 + "group g 3 w1 w2\n", `line 3: group "g": threshold 3 is not between 1 and the number of members, 2`},
		{"threshold huge", w12 + "group g 99999999999999999999999 w1 w2\n",
			`line 3: group "g": threshold 99999999999999999999999 is not between 1 and the number of members, 2`},
		{"threshold leading zero", w12 + "group g 02 w1 w2\n", `line 3: group "g": threshold "02" is not all, any or a decimal number without leading zeroes`},
		{"threshold sign", w12 + "group g +1 w1 w2\n", `line 3: group "g": threshold "+1" is not all, any or a decimal number without leading zeroes`},
		{"threshold negative", w12 + "group g -1 w1 w2\n", `line 3: group "g": threshold "-1" is not all, any or a decimal number without leading zeroes`},
		{"threshold word", w12 + "group g two w1 w2\n", `line 3: group "g": threshold "two" is not all, any or a decimal number without leading zeroes`},
		{"threshold case", w12 + "group g ALL w1 w2\n", `line 3: group "g": threshold "ALL" is not all, any or a decimal number without leading zeroes`},

		{"quorum without name", "quorum\n", `line 1: quorum line has 0 fields after "quorum", want <name>`},
		{"quorum two names", w12 + "quorum w1 w2\n", `line 3: quorum line has 2 fields after "quorum", want <name>`},
		{"quorum twice", w1 + "quorum w1\n\nquorum none\n", `line 4: second quorum line (the first is on line 2)`},
		{"quorum undefined", w1 + "quorum w2\n", `line 2: quorum "w2" is not defined on a preceding line`},
		{"quorum forward reference", "quorum w1\n" + w1, `line 1: quorum "w1" is not defined on a preceding line`},
		{"too large", strings.Repeat("#\n", policy.MaxSize/2+1), `file is 1048578 bytes, larger than the limit of 1048576`},
	} {
		p, err := policy.Parse([]byte(tc.text))
		var perr *policy.Error
		if !errors.As(err, &perr) {
			t.Errorf("%s: Parse = %v, %v; want *policy.Error", tc.name, p, err)
			continue
		}
		if p != nil {
			t.Errorf("%s: a policy returned with an error", tc.name)
		}
		if got, want := err.Error(), "policy: "+tc.err; got != want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, want)
		}
	}
}

func TestParseLimits(t *testing.T) {
	var b strings.Builder
	b.WriteString("witness w " + wk1 + "\n")
	for i := range policy.MaxGroups + 1 {
		fmt.Fprintf(&b, "group g%d any w\n", i)
	}
	_, err := policy.Parse([]byte(b.String()))
	if want := fmt.Sprintf("policy: line %d: more than %d groups", policy.MaxGroups+2, policy.MaxGroups); err == nil || err.Error() != want {
		t.Errorf("groups: %v, want %s", err, want)
	}
}

// TestDeepGroups checks that evaluating a quorum is linear in the policy's
// size, even when groups share members at every level.
func TestDeepGroups(t *testing.T) {
	var b strings.Builder
	b.WriteString("witness a " + wk1 + "\nwitness b " + wk2 + "\ngroup g0 all a b\ngroup g1 all a g0\n")
	for i := 2; i < policy.MaxGroups; i++ {
		fmt.Fprintf(&b, "group g%d all g%d g%d\n", i, i-1, i-2)
	}
	fmt.Fprintf(&b, "quorum g%d\n", policy.MaxGroups-1)
	p, err := policy.Parse([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if !p.Satisfied(cosigned("a", "b")) || p.Satisfied(cosigned("a")) {
		t.Error("wrong answer")
	}
}

// TestInteropFormats checks that the policies this package accepts and
// the transparency-dev/formats parser accepts agree on their quorums.
func TestInteropFormats(t *testing.T) {
	p, err := policy.Parse([]byte(example))
	if err != nil {
		t.Fatal(err)
	}
	g, err := fwitness.ParsePolicy([]byte(example))
	if err != nil {
		t.Fatal(err)
	}
	if g.N != p.Group(p.Quorum).Threshold || len(g.Components) != len(p.Group(p.Quorum).Members) {
		t.Errorf("formats parsed %d of %d, this package %+v", g.N, len(g.Components), p.Group(p.Quorum))
	}
	// The leniency this package refuses: a member listed twice.
	dup := "witness w1 " + wk1 + " https://w1.example/\nwitness w2 " + wk2 + " https://w2.example/\ngroup g 2 w1 w1\nquorum g\n"
	if _, err := fwitness.ParsePolicy([]byte(dup)); err != nil {
		t.Logf("formats now refuses a duplicate member too: %v", err)
	}
	if _, err := policy.Parse([]byte(dup)); err == nil {
		t.Error("a group with a duplicate member was accepted")
	}
}

func TestParseMLDSAWitness(t *testing.T) {
	_, vkey, err := fnote.GenerateMLDSAKey("pq.example")
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Parse([]byte("witness pq " + vkey + " https://pq.example/\nquorum pq\n"))
	if err != nil {
		t.Fatal(err)
	}
	if w := p.Witness("pq"); w.Key[0] != 0x06 || w.Verifier.Name() != "pq.example" {
		t.Errorf("witness %+v", w)
	}
}
