package cli

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

const overview = `credlog is the tool of the issuers, holders and auditors of a credlog
transparency log: a public, append-only, witnessed log of the issuance,
suspension, resumption and revocation of digital identity credentials.`

// runHelp runs "credlog help [command]".
func runHelp(e *env, args []string) int {
	if len(args) == 0 || len(args) == 1 && isHelpFlag(args[0]) {
		printUsage(e.stdout)
		return ExitOK
	}
	if cmd, rest := lookup(args); cmd != nil && len(rest) == 0 {
		fs := flag.NewFlagSet("credlog "+cmd.name, flag.ContinueOnError)
		cmd.setup(fs)
		printCommandUsage(e.stdout, cmd, fs)
		return ExitOK
	}
	if group := groupCommands(args[0]); len(group) > 0 && len(args) == 1 {
		printGroupUsage(e.stdout, args[0], group)
		return ExitOK
	}
	fmt.Fprintf(e.stderr, "credlog: help: unknown command %q\nRun 'credlog help' for usage.\n", strings.Join(args, " "))
	return ExitUsage
}

// isHelpFlag reports whether arg asks for help.
func isHelpFlag(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}

// printUsage prints the top-level help text.
func printUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: credlog <command> [flags] [arguments]\n\n%s\n\nCommands:\n", overview)
	printCommandList(w, commands)
	fmt.Fprintf(w, "\nRun 'credlog help <command>' or 'credlog <command> -h' for a command's flags.\n")
}

// printGroupUsage prints the help text of a group such as "issuer".
func printGroupUsage(w io.Writer, group string, cs []*command) {
	fmt.Fprintf(w, "Usage: credlog %s <command> [flags]\n\nCommands:\n", group)
	printCommandList(w, cs)
	fmt.Fprintf(w, "\nRun 'credlog %s <command> -h' for a command's flags.\n", group)
}

// printCommandList prints one line per command: its name and summary.
func printCommandList(w io.Writer, cs []*command) {
	width := 0
	for _, c := range cs {
		width = max(width, len(c.name))
	}
	for _, c := range cs {
		fmt.Fprintf(w, "  %-*s  %s\n", width, c.name, c.summary)
	}
}

// printCommandUsage prints a command's usage line, description and flags.
func printCommandUsage(w io.Writer, c *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: credlog %s %s\n\n%s\n", c.name, c.synopsis, strings.TrimSpace(c.doc))
	hasFlags := false
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		fmt.Fprintf(w, "\nFlags:\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
}
