package cli

import (
	"crypto/rand"
	"flag"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/keys"
)

var keygenCommand = &command{
	name:     "issuer keygen",
	synopsis: "-name NAME [-dir DIR] [-signing-only]",
	summary:  "generate an issuer's signing key and VRF key",
	doc: `
Keygen generates the keys of issuer NAME and writes them to DIR:

  NAME.key      signing key, signed-note "PRIVATE+KEY+NAME+..." (mode 0600)
  NAME.vkey     its verifier key "NAME+<key id>+..." (mode 0644)
  NAME.vrf.key  VRF key "PRIVATE+VRF+NAME+..." (mode 0600)
  NAME.vrf.pub  its public key "VRF+NAME+..." (mode 0644)

It refuses to overwrite any existing file, and prints the verifier key and
the VRF public key: give both to the log operator to register the issuer.
The VRF key maps ID numbers to subject labels and can never change; the
signing key can be rotated (credlog issuer rotate-key). With -signing-only,
keygen writes only NAME.key and NAME.vkey: the next key of a rotation,
which must not come with a VRF key that could be mistaken for the
issuer's.`,
	setup: func(fs *flag.FlagSet) func(*env, []string) error {
		name := fs.String("name", "", "issuer `name` (printable ASCII, no '+', spaces or slashes)")
		dir := fs.String("dir", ".", "`directory` to write the key files to")
		signingOnly := fs.Bool("signing-only", false, "write only the signing key and its verifier key (for rotate-key)")
		return func(e *env, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			if err := requireFlags("name", *name); err != nil {
				return err
			}
			return keygen(e, *name, *dir, *signingOnly)
		}
	},
}

// keygen generates the keys of issuer name and writes them to dir: the
// signing key pair, and the VRF key pair unless signingOnly.
func keygen(e *env, name, dir string, signingOnly bool) error {
	if err := entry.CheckName(name); err != nil {
		return usagef("invalid -name %q: %v", name, err)
	}
	if strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return usagef("invalid -name %q: it must be usable as a file name", name)
	}
	skey, vkey, err := keys.Generate(name, rand.Reader)
	if err != nil {
		return err
	}
	base := filepath.Join(dir, name)
	files := []output{
		{path: base + ".key", data: []byte(skey), write: writePrivateKey},
		{path: base + ".vkey", data: []byte(vkey), write: writePublicKey},
	}
	var vrfPub string
	if !signingOnly {
		var vrfPriv string
		if vrfPriv, vrfPub, err = keys.GenerateVRF(name, rand.Reader); err != nil {
			return err
		}
		files = append(files,
			output{path: base + ".vrf.key", data: []byte(vrfPriv), write: writePrivateKey},
			output{path: base + ".vrf.pub", data: []byte(vrfPub), write: writePublicKey})
	}
	if err := writeOutputs(files); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "verifier key: %s\n", vkey)
	if vrfPub != "" {
		fmt.Fprintf(e.stdout, "vrf public key: %s\n", vrfPub)
	}
	printWritten(e.stdout, files)
	return nil
}

// writePrivateKey and writePublicKey write key texts with keys' writers
// (0600 and 0644, never overwriting), for writeOutputs.
func writePrivateKey(path string, text []byte) error {
	return keys.WritePrivateFile(path, string(text))
}

func writePublicKey(path string, text []byte) error {
	return keys.WritePublicFile(path, string(text))
}
