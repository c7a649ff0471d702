package cli

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoosePermissions checks that every command refuses a private key
// file that others may read, naming the file and its mode, and writes
// nothing.
func TestLoosePermissions(t *testing.T) {
	k := keygenIn(t, t.TempDir(), "id.example.gov")
	cert, issued := issueIn(t, k, "alice", "1")
	credHex, subjHex := hex.EncodeToString(issued.Credential[:]), hex.EncodeToString(issued.Subject[:])
	next := keygenIn(t, t.TempDir(), k.name)
	out := filepath.Join(k.dir, "x")
	for _, tc := range []struct {
		name string
		file string
		mode os.FileMode
		args []string
	}{
		{"issue signing key", k.key, 0o644, []string{"issuer", "issue", "-key", k.key, "-vrf-key", k.vrfKey, "-id-number", "2", "-out", out}},
		{"issue VRF key", k.vrfKey, 0o640, []string{"issuer", "issue", "-key", k.key, "-vrf-key", k.vrfKey, "-id-number", "2", "-out", out}},
		{"reissue VRF key", k.vrfKey, 0o604, []string{"issuer", "reissue", "-key", k.key, "-vrf-key", k.vrfKey, "-id-number", "1", "-supersedes", credHex, "-version", "2", "-out", out}},
		{"revoke VRF key", k.vrfKey, 0o644, []string{"issuer", "revoke", "-key", k.key, "-cert", cert + ".cert.der", "-vrf-key", k.vrfKey, "-out", out}},
		{"suspend signing key", k.key, 0o660, []string{"issuer", "suspend", "-key", k.key, "-cert", cert + ".cert.der", "-vrf-pub", k.vrfPub, "-out", out}},
		{"resume signing key", k.key, 0o644, []string{"issuer", "resume", "-key", k.key, "-credential", credHex, "-subject", subjHex, "-out", out}},
		{"rotate current key", k.key, 0o644, []string{"issuer", "rotate-key", "-key", k.key, "-new-key", next.vkey, "-vrf-pub", k.vrfPub, "-out", out}},
		{"rotate new key", next.key, 0o644, []string{"issuer", "rotate-key", "-key", k.key, "-new-key", next.key, "-vrf-pub", k.vrfPub, "-out", out}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.Chmod(tc.file, tc.mode); err != nil {
				t.Fatal(err)
			}
			defer os.Chmod(tc.file, 0o600)
			r := credlog(t, nil, tc.args...)
			mode := fmt.Sprintf("mode %04o", tc.mode)
			if r.code != ExitFailure || !strings.Contains(r.stderr, "permissions") || !strings.Contains(r.stderr, tc.file) || !strings.Contains(r.stderr, mode) {
				t.Errorf("exit %d, stderr %q; want 1 and a message on the permissions of %s (%s)", r.code, r.stderr, tc.file, mode)
			}
			if matches, _ := filepath.Glob(out + "*"); len(matches) > 0 {
				t.Errorf("wrote %v despite the loose key", matches)
			}
		})
	}
}

// TestUsageErrors checks that command-line errors exit 2, say what is
// wrong on stderr and write nothing.
func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "Usage: credlog"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"issuer"}, "Usage: credlog issuer"},
		{[]string{"issuer", "frobnicate"}, `unknown command "issuer frobnicate"`},
		{[]string{"entry"}, "Usage: credlog entry"},
		{[]string{"help", "frobnicate"}, "unknown command"},
		{[]string{"issuer", "keygen"}, "-name is required"},
		{[]string{"issuer", "keygen", "-name", "a", "extra"}, `unexpected argument "extra"`},
		{[]string{"issuer", "keygen", "-bogus"}, "credlog: issuer keygen: flag provided but not defined: -bogus"},
		{[]string{"issuer", "keygen", "-signing-only=maybe", "-name", "a"}, "invalid boolean value"},
		{[]string{"issuer", "issue", "-bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"issuer", "reissue", "-bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"issuer", "revoke", "-bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"issuer", "suspend", "-bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"issuer", "resume", "-bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"issuer", "rotate-key", "-bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"entry", "show", "-bogus", "f"}, "flag provided but not defined: -bogus"},
		{[]string{"entry", "bogus"}, `unknown command "entry bogus"`},
		{[]string{"help", "-bogus"}, "unknown command"},
		{[]string{"issuer", "issue"}, "-key is required"},
		{[]string{"issuer", "issue", "-key", "k"}, "-vrf-key is required"},
		{[]string{"issuer", "issue", "-key", "k", "-vrf-key", "v"}, "-id-number is required"},
		{[]string{"issuer", "issue", "-key", "k", "-vrf-key", "v", "-id-number", " 1"}, "-id-number"},
		{[]string{"issuer", "issue", "-key", "k", "-vrf-key", "v", "-id-number", "1\n"}, "-id-number"},
		{[]string{"issuer", "issue", "-key", "k", "-vrf-key", "v", "-id-number", "1", "-version", "0"}, "-version must be 1 or more"},
		{[]string{"issuer", "issue", "-key", "k", "-vrf-key", "v", "-id-number", "1", "-version", "-1"}, "invalid value"},
		{[]string{"issuer", "issue", "-key", "k", "-vrf-key", "v", "-id-number", "1", "-not-before", "yesterday"}, "-not-before"},
		{[]string{"issuer", "issue", "-key", "k", "-vrf-key", "v", "-id-number", "1", "-validity", "0s"}, "-validity"},
		{[]string{"issuer", "issue", "-key", "k", "-vrf-key", "v", "-id-number", "1", "-time", "soon"}, "invalid value"},
		{[]string{"issuer", "reissue", "-key", "k", "-vrf-key", "v", "-id-number", "1", "-version", "2"}, "-supersedes is required"},
		{[]string{"issuer", "revoke"}, "-key is required"},
		{[]string{"issuer", "revoke", "-key", "k"}, "-out is required"},
		{[]string{"issuer", "suspend", "-out", "o"}, "-key is required"},
		{[]string{"issuer", "suspend", "-key", "k", "-out", "o", "-credential", "00"}, "-subject is required"},
		{[]string{"issuer", "suspend", "-key", "k", "-out", "o", "-reason", "bored", "-credential", "00", "-subject", "00"}, `-reason "bored" is not one of holder-request, `},
		{[]string{"issuer", "resume", "-key", "k"}, "-out is required"},
		{[]string{"issuer", "resume", "-key", "k", "-out", "o", "-reason", "other"}, "flag provided but not defined: -reason"},
		{[]string{"issuer", "rotate-key"}, "-key is required"},
		{[]string{"issuer", "rotate-key", "-key", "k", "-vrf-pub", "v", "-out", "o"}, "-new-key is required"},
		{[]string{"entry", "show"}, "want one FILE argument"},
		{[]string{"entry", "show", "a", "b"}, "want one FILE argument"},
		{[]string{"entry", "show", "-hex", "-base64", "a"}, "exclusive"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Chdir(dir)
			r := credlog(t, nil, tc.args...)
			if r.code != ExitUsage || !strings.Contains(r.stderr, tc.want) || r.stdout != "" {
				t.Errorf("exit %d, stderr %q, stdout %q; want 2 and %q on stderr only", r.code, r.stderr, r.stdout, tc.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) > 0 {
				t.Errorf("a usage error wrote %s", entries[0].Name())
			}
		})
	}
}

// TestHelp checks that help asked for, in any form, goes to stdout and
// exits 0.
func TestHelp(t *testing.T) {
	help := func(args ...string) string {
		t.Helper()
		r := credlog(t, nil, args...)
		if r.code != ExitOK || r.stderr != "" || !strings.HasPrefix(r.stdout, "Usage: credlog") {
			t.Errorf("credlog %s: exit %d, stderr %q, stdout %.40q; want 0, usage on stdout", strings.Join(args, " "), r.code, r.stderr, r.stdout)
		}
		return r.stdout
	}
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}, {"help", "-h"}} {
		out := help(args...)
		for _, c := range commands {
			if !strings.Contains(out, "  "+c.name+" ") {
				t.Errorf("credlog %s does not list %q:\n%s", strings.Join(args, " "), c.name, out)
			}
		}
	}
	for _, args := range [][]string{{"help", "issuer"}, {"issuer", "-h"}, {"issuer", "help"}} {
		if out := help(args...); !strings.Contains(out, "issuer rotate-key") || strings.Contains(out, "entry show") {
			t.Errorf("credlog %s:\n%s", strings.Join(args, " "), out)
		}
	}
	for _, c := range commands {
		words := strings.Fields(c.name)
		for _, args := range [][]string{append(words, "-h"), append(words, "--help"), append([]string{"help"}, words...)} {
			if out := help(args...); !strings.Contains(out, "Usage: credlog "+c.name) || !strings.Contains(out, "Flags:") {
				t.Errorf("credlog %s:\n%s", strings.Join(args, " "), out)
			}
		}
	}
	if out := help("issuer", "issue", "-h"); !strings.Contains(out, "-validity duration") || !strings.Contains(out, "(default 8760h0m0s)") {
		t.Errorf("issue -h does not show -validity and its default:\n%s", out)
	}
}

// TestCommandDoc checks that the command's doc comment lists every
// subcommand.
func TestCommandDoc(t *testing.T) {
	doc := readString(t, filepath.Join("..", "..", "credlog", "main.go"))
	for _, c := range commands {
		if !strings.Contains(doc, "//\t"+c.name+" ") {
			t.Errorf("cmd/credlog/main.go does not list %q", c.name)
		}
	}
}
