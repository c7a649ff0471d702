// Command credlog is the tool of the issuers, holders and auditors of a
// credlog transparency log of digital identity credential events.
//
// Usage:
//
//	credlog <command> [flags] [arguments]
//
// The commands are:
//
//	issuer keygen      generate an issuer's signing key and VRF key
//	issuer issue       issue a credential and sign its issue event
//	issuer reissue     issue a credential that supersedes a subject's current one
//	issuer revoke      revoke a credential, for good
//	issuer suspend     suspend an active credential
//	issuer resume      resume a suspended credential
//	issuer rotate-key  sign the issuer-key event that moves an issuer to a new signing key
//	entry show         decode a log entry and print its fields
//	fsck               check a stopped log's data directory offline
//	bundle             fetch or refresh a credential's bundle from a log
//	verify             check a credential bundle offline
//	audit              replay a whole log and check every entry
//	monitor watch      add a subject label or credential ID to a monitor's watch list
//	monitor authorize  mark logged events as the holder's own, so they raise no alert
//	monitor run        follow a log and alert on events naming watched items
//	demo               run a whole credlog system locally and show it at work
//
// Run "credlog help <command>" or "credlog <command> -h" for a command's
// flags; help goes to standard output. The issuer commands write each
// signed event as PREFIX.event, the raw entry bytes that the log's
// POST /events takes, and as PREFIX.event.b64. credlog exits with status
// 0 on success, 1 when a command fails and 2 on a usage error; credlog
// verify exits 3 to 10 by failure class (see "credlog verify -h"), credlog
// audit 11 to 14 by the check that failed (docs/AUDIT.md), and
// credlog monitor run -once exits 20 when it raised alerts.
package main

import (
	"os"

	"github.com/credlog/credlog/cmd/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
