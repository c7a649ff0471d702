package main

import (
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/credlog/credlog/log/keys"
)

// issuerName is the name of the issuer whose keys keygen writes.
const issuerName = "load.example"

func keygenCommand(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("credload keygen", flag.ContinueOnError)
	dir := fs.String("dir", ".", "`directory` to write the key files to")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	prefix, err := keygen(*dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s.key, .vkey, .vrf.key and .vrf.pub\nregister the issuer with: credlogd -issuer %s\n", prefix, prefix)
	return nil
}

// keygen writes the signing and VRF keys of issuerName to dir, as
// 'credlog issuer keygen' names them, and returns the files' common
// prefix. It writes nothing if any of the files exists.
func keygen(dir string) (string, error) {
	skey, vkey, err := keys.Generate(issuerName, rand.Reader)
	if err != nil {
		return "", err
	}
	vrfPriv, vrfPub, err := keys.GenerateVRF(issuerName, rand.Reader)
	if err != nil {
		return "", err
	}
	prefix := filepath.Join(dir, issuerName)
	files := []struct {
		suffix, text string
		write        func(path, key string) error
	}{
		{".key", skey, keys.WritePrivateFile},
		{".vkey", vkey, keys.WritePublicFile},
		{".vrf.key", vrfPriv, keys.WritePrivateFile},
		{".vrf.pub", vrfPub, keys.WritePublicFile},
	}
	for _, f := range files {
		if _, err := os.Lstat(prefix + f.suffix); err == nil {
			return "", fmt.Errorf("%s exists: refusing to overwrite a key", prefix+f.suffix)
		}
	}
	for _, f := range files {
		if err := f.write(prefix+f.suffix, f.text); err != nil {
			return "", err
		}
	}
	return prefix, nil
}
