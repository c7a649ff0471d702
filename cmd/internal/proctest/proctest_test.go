package proctest

import (
	"fmt"
	"strings"
	"testing"
)

// recorder is a testing.TB that records Errorf instead of failing.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// TestCheckOutput: a data race report, a panic and a string the caller
// names are each reported, with what follows them; a clean output is not.
func TestCheckOutput(t *testing.T) {
	f := Output(t, t.TempDir(), "proc")
	r := &recorder{TB: t}
	fmt.Fprintln(f, "level=INFO msg=serving")
	if b := CheckOutput(r, f, "proc", "level=ERROR"); len(r.errs) != 0 || !strings.Contains(string(b), "serving") {
		t.Fatalf("clean output: %q, output %q", r.errs, b)
	}
	fmt.Fprintln(f, "level=ERROR msg=boom\npanic: oops\nWARNING: DATA RACE")
	CheckOutput(r, f, "proc", "level=ERROR")
	if len(r.errs) != 3 || !strings.Contains(strings.Join(r.errs, ""), "msg=boom") {
		t.Fatalf("want 3 reports, got %q", r.errs)
	}
}
