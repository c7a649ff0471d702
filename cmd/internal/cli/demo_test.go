package cli

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDemo runs the whole demonstration, as the README's first command
// does, on a free port, and checks each of its claims in what it printed:
// the witnesses cosign, the holder's bundle verifies, the revoked and the
// unlogged credentials are rejected with their exit codes, the monitor
// alerts on the silent reissue, and the audit of the whole log passes.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a log and three witnesses")
	}
	var out bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &out, now: time.Now}
	code := run(e, []string{"demo", "-exit", "-credentials", "60", "-listen", "127.0.0.1:0", "-dir", t.TempDir()})
	text := out.String()
	if code != 0 {
		t.Fatalf("demo: exit %d\n%s", code, text)
	}
	for _, want := range []string{
		"quorum two-of-three",
		"OK: credential",
		"credential is not active: credential is revoked",
		"(exit status 9)",
		"credential is not logged",
		"(exit status 6)",
		`"alert":"event"`,
		"(exit status 20)",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	// The issue events: 60 credentials and 60/25 reissues, then the
	// silent one.
	if !regexp.MustCompile(`60 issues, 3 reissues, 6 suspensions, 3 resumptions, 4 revocations`).MatchString(text) {
		t.Errorf("demo output lacks the event counts")
	}
	if t.Failed() {
		t.Logf("demo output:\n%s", text)
	}
}
