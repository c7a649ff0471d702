// Command credload drives a running credlogd with load and reports what
// the log sustains: a load generator for benchmarks, never for a
// production log (its events are issued by a throwaway issuer).
//
// Usage:
//
//	credload keygen -dir DIR
//	credload write -url URL -key DIR/load.example.key [-events N] [-concurrency C] [-batch B] [-rate R] [-wait] [-seed S] [-first F] [-poll D] [-json]
//	credload read -url URL -mode tiles|proofs|lookups|maps [-concurrency C] [-duration D] [-warmup D] [-seed S] [-events N] [-gzip] [-json]
//
// # Keys
//
// keygen writes the keys of the issuer load.example to DIR: load.example.key,
// .vkey, .vrf.key and .vrf.pub. Start the log with
// "credlogd -issuer DIR/load.example" to register it.
//
// # Writing
//
// write signs N issue events up front, in parallel, and only then starts
// the clock. Event i of a seed has a credential ID and a subject label
// derived from the seed and i, version 1 and a fixed time, so that the
// same seed always yields the same bytes (resubmitted, they are answered
// as duplicates) and read can look up what write wrote.
//
// Without -rate the load is a closed loop: C workers each send the next
// request when their last one is answered. With -rate R the load is an
// open loop: request k is due at k·B/R seconds after the start, C workers
// send requests when due, and a request's latency is counted from the
// time it was due, not from the time it was sent, so that a slow server
// cannot hide its slowness by slowing the generator (coordinated
// omission). With -batch 1 each event is its own POST /events; with
// -batch B > 1 events go B at a time to POST /events/batch. -wait makes
// each submission wait for a checkpoint (?wait=checkpoint).
//
// Meanwhile a goroutine polls /checkpoint every -poll interval and records
// when each size is first seen; an event's time to checkpoint is from its
// request's start (or due time) to the first sighting of a checkpoint
// that covers its index. Another samples the server's RSS and CPU time
// from its /metrics (process_resident_memory_bytes and
// process_cpu_seconds_total) every second.
//
// # Reading
//
// read sends warm reads for -duration, after a -warmup that is not
// counted: full level-0 tiles and entry bundles below the current
// checkpoint size (tiles), server-built inclusion proofs at the current
// checkpoint size (proofs), credential lookups of events 0 to N-1 that
// write wrote with the same -seed (lookups), or the credential status
// proofs of the same credentials from the verifiable map (maps). Each
// answer is checked: a map proof must show the credential active in the
// map of the map-root entry served with it, so the events must be older
// than the latest map-root entry (map_epoch).
//
// # Reports
//
// Both print a report on standard output, as text or, with -json, as
// one JSON object; progress goes to standard error. Since the generator
// and the log share the machine, the report includes the machine's load
// average (from /proc/loadavg) at the start and at the end, the CPU time
// credload itself used, and the server's. credload exits with 0 when the
// run completed, even with errors counted in the report, 1 when it could
// not run, and 2 on a usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, logger)
	stop()
	os.Exit(code)
}

const usage = `usage:
  credload keygen -dir DIR
  credload write -url URL -key DIR/load.example.key [flags]
  credload read -url URL -mode tiles|proofs|lookups|maps [flags]
Run "credload <command> -h" for a command's flags.
`

// errUsage marks a command-line error: credload exits with 2.
var errUsage = errors.New("usage error")

// run runs one command line and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, logger *slog.Logger) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "keygen":
		err = keygenCommand(args[1:], stdout, stderr)
	case "write":
		err = writeCommand(ctx, args[1:], stdout, stderr, logger)
	case "read":
		err = readCommand(ctx, args[1:], stdout, stderr, logger)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "credload: unknown command %q\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "credload %s: %v\n", args[0], err)
		return 2
	}
	fmt.Fprintf(stderr, "credload %s: %v\n", args[0], err)
	return 1
}

// parseFlags parses a command's flags and refuses positional arguments.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	return nil
}

// usagef returns a usage error.
func usagef(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}
