// Package cli implements the credlog command: the tool of issuers,
// holders and auditors of a credlog transparency log.
//
// [Main] runs one command line in-process, so that tests and the thin
// binary in cmd/credlog share every line of it. Each subcommand is a
// [command] in the commands table; new ones (verify, monitor, audit,
// bundle) are added there beside the issuer and entry commands.
//
// Exit codes: 0 on success, 1 when a command fails, 2 on a usage error
// (unknown command, bad or missing flags); credlog verify has one more
// per failure class (ExitMalformed and those after it). Help that was asked for (-h,
// "credlog help") goes to stdout and exits 0; usage errors go to stderr.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
)

// Exit codes returned by Main.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// env is what a command may touch outside its arguments.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	now            func() time.Time
}

// command is one subcommand, such as "issuer issue".
type command struct {
	name     string // words after "credlog", space-separated
	synopsis string // the arguments, after the name, in the usage line
	summary  string // one line, for the command list
	doc      string // paragraphs shown by -h
	// setup declares the command's flags on fs and returns the function
	// that runs it once fs is parsed; args are the positional arguments.
	setup func(fs *flag.FlagSet) func(e *env, args []string) error
}

// commands lists every subcommand, in the order of the help text.
var commands = []*command{
	keygenCommand,
	issueCommand,
	reissueCommand,
	revokeCommand,
	suspendCommand,
	resumeCommand,
	rotateKeyCommand,
	entryShowCommand,
	fsckCommand,
	bundleCommand,
	verifyCommand,
	auditCommand,
	monitorWatchCommand,
	monitorAuthorizeCommand,
	monitorRunCommand,
	demoCommand,
}

// exitError is a failure with its own exit code, such as a failure class
// of credlog verify.
type exitError struct {
	code int
	err  error
}

// Error implements error.
func (x *exitError) Error() string { return x.err.Error() }

// Unwrap returns the underlying error.
func (x *exitError) Unwrap() error { return x.err }

// usageError is an error in the command line: it exits with ExitUsage.
type usageError struct{ msg string }

// Error implements error.
func (u *usageError) Error() string { return u.msg }

// usagef returns a usageError with a formatted message.
func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// Main runs credlog with args (the command line without the program name)
// and returns the process exit code. Errors go to stderr as
// "credlog: <command>: <problem>".
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return run(&env{stdin: stdin, stdout: stdout, stderr: stderr, now: time.Now}, args)
}

// run is Main with its environment, so that tests can set the clock.
func run(e *env, args []string) int {
	if len(args) == 0 {
		printUsage(e.stderr)
		return ExitUsage
	}
	if isHelpFlag(args[0]) {
		return runHelp(e, args[1:])
	}
	cmd, rest := lookup(args)
	if cmd == nil {
		return groupOrUnknown(e, args)
	}
	fs := flag.NewFlagSet("credlog "+cmd.name, flag.ContinueOnError)
	// The flag package's own messages are dropped: its errors are
	// reported below like every other usage error, and -h prints the
	// usage to stdout.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	runFn := cmd.setup(fs)
	positional, err := parseInterspersed(fs, rest)
	if errors.Is(err, flag.ErrHelp) {
		printCommandUsage(e.stdout, cmd, fs)
		return ExitOK
	}
	if err == nil {
		err = runFn(e, positional)
	} else {
		err = &usageError{msg: err.Error()}
	}
	if err == nil {
		return ExitOK
	}
	fmt.Fprintf(e.stderr, "credlog: %s: %v\n", cmd.name, err)
	if u := (*usageError)(nil); errors.As(err, &u) {
		fmt.Fprintf(e.stderr, "Run 'credlog %s -h' for usage.\n", cmd.name)
		return ExitUsage
	}
	if x := (*exitError)(nil); errors.As(err, &x) {
		return x.code
	}
	return ExitFailure
}

// parseInterspersed parses args with fs, allowing flags after positional
// arguments ("entry show FILE -json"); "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if consumed := args[:len(args)-len(rest)]; len(consumed) > 0 && consumed[len(consumed)-1] == "--" {
			return append(positional, rest...), nil
		}
		if len(rest) == 0 {
			return positional, nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// lookup finds the command named by the first words of args, and returns
// the arguments that follow its name.
func lookup(args []string) (*command, []string) {
	for _, c := range commands {
		words := strings.Fields(c.name)
		if len(args) < len(words) {
			continue
		}
		if strings.Join(args[:len(words)], " ") == c.name {
			return c, args[len(words):]
		}
	}
	return nil, nil
}

// groupOrUnknown handles "credlog issuer" (a group without a subcommand,
// or with an unknown one) and unknown commands.
func groupOrUnknown(e *env, args []string) int {
	group := groupCommands(args[0])
	if len(group) == 0 {
		fmt.Fprintf(e.stderr, "credlog: unknown command %q\nRun 'credlog help' for usage.\n", args[0])
		return ExitUsage
	}
	if len(args) > 1 {
		if isHelpFlag(args[1]) {
			printGroupUsage(e.stdout, args[0], group)
			return ExitOK
		}
		fmt.Fprintf(e.stderr, "credlog: unknown command %q\n", args[0]+" "+args[1])
	}
	printGroupUsage(e.stderr, args[0], group)
	return ExitUsage
}

// groupCommands returns the commands whose first word is group.
func groupCommands(group string) []*command {
	var cs []*command
	for _, c := range commands {
		if first, _, ok := strings.Cut(c.name, " "); ok && first == group {
			cs = append(cs, c)
		}
	}
	return cs
}
