// Package proctest helps tests that run credlog's commands as real
// processes (the crash harnesses of credlogd and credwitness, the failover
// test): it builds the command under test, with the race detector when the
// tests run with it, and finds free loopback ports.
package proctest

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// Build builds the main package in the current directory (the one whose
// tests are running) into dir/name and returns the binary's path. With the
// race detector on in the tests, the binary has it too: a race in the
// process under load is a failure as well. Without a go command, the test
// is skipped.
func Build(t testing.TB, dir, name string) string {
	t.Helper()
	bin := filepath.Join(dir, name)
	args := []string{"build", "-o", bin}
	if RaceEnabled {
		args = append(args, "-race")
	}
	start := time.Now()
	if out, err := exec.Command(goTool(t, name), append(args, ".")...).CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("built %s in %v", name, time.Since(start).Round(time.Millisecond))
	return bin
}

// goTool returns the go command that runs the tests.
func goTool(t testing.TB, name string) string {
	if p, err := exec.LookPath(filepath.Join(runtime.GOROOT(), "bin", "go")); err == nil {
		return p
	}
	p, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to build %s with", name)
	}
	return p
}

// FreeAddr returns a loopback address with a port nothing listens on.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// CrashCyclesEnv sets the number of kill cycles of the crash harnesses:
// 3 by default (a few seconds, the CI run); CREDLOG_CRASH_CYCLES=50 is
// the long run (docs/RELIABILITY.md).
const CrashCyclesEnv = "CREDLOG_CRASH_CYCLES"

// CrashCycles returns the number of kill cycles to run.
func CrashCycles(t testing.TB) int {
	t.Helper()
	s := os.Getenv(CrashCyclesEnv)
	if s == "" {
		return 3
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive number of cycles", CrashCyclesEnv, s)
	}
	return n
}

// Output creates dir/name.log, where a process under test writes its
// output and its harness its own lines. When the test ends the file is
// closed and, if the test failed, its last 8 KiB are logged. A cleanup
// that kills the process must be registered after Output, so that it
// runs first.
func Output(t testing.TB, dir, name string) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		f.Close()
		if t.Failed() {
			b, _ := os.ReadFile(f.Name())
			t.Logf("%s's log (last 8 KiB):\n%s", name, b[max(0, len(b)-8192):])
		}
	})
	return f
}

// CheckOutput fails the test if the output of the process name in f
// holds a data race report, a panic or any of bad, showing what follows
// it; it returns the output.
func CheckOutput(t testing.TB, f *os.File, name string, bad ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range append([]string{"WARNING: DATA RACE", "panic: "}, bad...) {
		if i := bytes.Index(b, []byte(s)); i >= 0 {
			t.Errorf("%s's log has %q:\n%s", name, s, b[i:min(len(b), i+2048)])
		}
	}
	return b
}
