// Command credwitness runs a transparency log witness (c2sp.org/tlog-witness)
// for credlog and any other log publishing c2sp.org/tlog-checkpoint
// checkpoints, and administers its database.
//
// Usage:
//
//	credwitness keygen -name NAME -out FILE
//	credwitness add-log -db PATH -origin ORIGIN -key VKEY [-key VKEY...]
//	credwitness list -db PATH
//	credwitness history -db PATH -origin ORIGIN [-after ID]
//	credwitness evidence -db PATH [-after ID]
//	credwitness serve -db PATH -key FILE [-listen ADDR] [-requests-per-day N] [-max-conns N] [-log-level LEVEL]
//
// keygen writes a new Ed25519 cosigner key to FILE (mode 0600, never
// overwriting) and prints its cosignature/v1 verifier key, which log
// operators and clients configure. add-log trusts a log's signed-note
// verifier keys for its origin; logs are never removed or re-keyed. list,
// history and evidence print JSON lines. serve refuses a key file that
// group or others may read.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage:
	credwitness keygen -name NAME -out FILE
	credwitness add-log -db PATH -origin ORIGIN -key VKEY [-key VKEY...]
	credwitness list -db PATH
	credwitness history -db PATH -origin ORIGIN [-after ID]
	credwitness evidence -db PATH [-after ID]
	credwitness serve -db PATH -key FILE [-listen ADDR] [-requests-per-day N] [-max-conns N] [-log-level LEVEL]
	                  [-pull ORIGIN=URL]... [-pull-interval D] [-alert-url URL]

Run 'credwitness COMMAND -h' for a command's flags.
`

var (
	// errUsage marks a command-line error: exit status 2.
	errUsage = errors.New("usage error")
	// errFlags is a flag parsing error, already reported by package flag.
	errFlags = errors.New("bad flags")
)

// run runs one subcommand and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmds := map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"keygen":   keygen,
		"add-log":  addLog,
		"list":     list,
		"history":  history,
		"evidence": evidence,
		"serve":    serve,
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "credwitness: unknown command %q\n%s", args[0], usage)
		return 2
	}
	err := cmd(ctx, args[1:], stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errFlags):
		return 2 // the flag package printed the error
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "credwitness %s: %v\n", args[0], err)
		return 2
	default:
		fmt.Fprintf(stderr, "credwitness %s: %v\n", args[0], err)
		return 1
	}
}

// parseFlags parses a subcommand's flags, requiring the named ones and no
// positional arguments.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer, required ...string) error {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return errFlags
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, name := range required {
		if !set[name] {
			return fmt.Errorf("%w: -%s is required", errUsage, name)
		}
	}
	return nil
}
