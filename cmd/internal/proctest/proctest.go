// Package proctest helps tests that run credlog's commands as real
// processes (the crash harnesses of credlogd and credwitness, the failover
// test): it builds the command under test, with the race detector when the
// tests run with it, and finds free loopback ports.
package proctest

import (
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
