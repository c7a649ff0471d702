package cli

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/credlog/credlog/log/keys"
	"github.com/credlog/credlog/log/vrf"
)

// maxKeyFile bounds the size of the key files we read.
const maxKeyFile = 4096

// keyKind is the kind of a key file, told apart by the form of its text,
// so that a key given where another kind is wanted gets a clear error.
type keyKind int

const (
	kindUnknown    keyKind = iota
	kindSigner             // "PRIVATE+KEY+<name>+<id>+<base64>"
	kindVerifier           // "<name>+<id>+<base64>"
	kindVRFPrivate         // "PRIVATE+VRF+<name>+<base64>"
	kindVRFPublic          // "VRF+<name>+<base64>"
	kindPEM                // "-----BEGIN ...": a holder key or a certificate
)

// keyKinds names each kind (for "couldn't read signing key") and the file
// that keygen writes for it.
var keyKinds = map[keyKind]struct{ noun, file string }{
	kindUnknown:    {"unknown key", ""},
	kindSigner:     {"signing key", "NAME.key"},
	kindVerifier:   {"verifier key", "NAME.vkey"},
	kindVRFPrivate: {"VRF key", "NAME.vrf.key"},
	kindVRFPublic:  {"VRF public key", "NAME.vrf.pub"},
	kindPEM:        {"PEM file", ""},
}

// noun returns "signing key" and the like.
func (k keyKind) noun() string { return keyKinds[k].noun }

// String returns "a signing key (NAME.key)" and the like.
func (k keyKind) String() string {
	s := "a " + keyKinds[k].noun
	if f := keyKinds[k].file; f != "" {
		s += " (" + f + ")"
	}
	return s
}

// kindOf tells the kind of a key text from its form alone; a malformed
// key of a known form still gets its kind, and its parser the last word.
func kindOf(text []byte) keyKind {
	t := string(bytes.TrimSpace(text))
	switch {
	case strings.HasPrefix(t, "PRIVATE+KEY+"):
		return kindSigner
	case strings.HasPrefix(t, "PRIVATE+VRF+"):
		return kindVRFPrivate
	case strings.HasPrefix(t, "VRF+"):
		return kindVRFPublic
	case strings.HasPrefix(t, "-----BEGIN "):
		return kindPEM
	}
	if parts := strings.SplitN(t, "+", 3); len(parts) == 3 && len(parts[1]) == 8 && isHex([]byte(parts[1])) {
		return kindVerifier
	}
	return kindUnknown
}

// checkKind returns an error naming path if text is a key of another
// kind than want.
func checkKind(path string, text []byte, want keyKind) error {
	if got := kindOf(text); got != want && got != kindUnknown {
		return fmt.Errorf("%s is %v, not %v", path, got, want)
	}
	return nil
}

// readPrivateKey reads a private key file of kind want, refusing one whose
// permissions are looser than 0600. A public key file given in its place
// is reported as the wrong kind rather than for its permissions.
func readPrivateKey(path string, want keyKind) (string, error) {
	// keys.ReadPrivateFile would judge a directory by its permissions.
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return "", fmt.Errorf("couldn't read %s: %s is not a regular file", want.noun(), path)
	}
	text, err := keys.ReadPrivateFile(path)
	if errors.Is(err, keys.ErrPermissions) {
		if b, rerr := readFile(path, maxKeyFile); rerr == nil {
			if kerr := checkKind(path, b, want); kerr != nil {
				return "", kerr
			}
		}
	}
	if err != nil {
		return "", fmt.Errorf("couldn't read %s: %w", want.noun(), err)
	}
	if err := checkKind(path, []byte(text), want); err != nil {
		return "", err
	}
	return text, nil
}

// readSigner reads a signed-note private key file, refusing one whose
// permissions are looser than 0600.
func readSigner(path string) (*keys.Signer, error) {
	text, err := readPrivateKey(path, kindSigner)
	if err != nil {
		return nil, err
	}
	s, err := keys.ParseSigner(text)
	if err != nil {
		return nil, fmt.Errorf("couldn't parse signing key %s: %w", path, err)
	}
	return s, nil
}

// readVRFPrivate reads a VRF private key file, refusing one whose
// permissions are looser than 0600.
func readVRFPrivate(path string) (string, *vrf.PrivateKey, error) {
	text, err := readPrivateKey(path, kindVRFPrivate)
	if err != nil {
		return "", nil, err
	}
	name, key, err := keys.ParseVRFPrivate(text)
	if err != nil {
		return "", nil, fmt.Errorf("couldn't parse VRF key %s: %w", path, err)
	}
	return name, key, nil
}

// readVRFPublic reads a VRF public key file.
func readVRFPublic(path string) (string, []byte, error) {
	b, err := readFile(path, maxKeyFile)
	if err != nil {
		return "", nil, fmt.Errorf("couldn't read VRF public key: %w", err)
	}
	if err := checkKind(path, b, kindVRFPublic); err != nil {
		return "", nil, err
	}
	name, pub, err := keys.ParseVRFPublic(string(b))
	if err != nil {
		return "", nil, fmt.Errorf("couldn't parse VRF public key %s: %w", path, err)
	}
	return name, pub, nil
}

// issuerVRFPublic returns the VRF public key of issuer from either a
// private key file or a public key file (exactly one is set), checking
// that the key is named after the issuer.
func issuerVRFPublic(issuer, privPath, pubPath string) ([]byte, error) {
	var (
		name string
		pub  []byte
		path string
	)
	switch {
	case privPath != "" && pubPath != "":
		return nil, usagef("-vrf-key and -vrf-pub are exclusive")
	case privPath != "":
		n, k, err := readVRFPrivate(privPath)
		if err != nil {
			return nil, err
		}
		name, pub, path = n, k.PublicKey(), privPath
	case pubPath != "":
		n, p, err := readVRFPublic(pubPath)
		if err != nil {
			return nil, err
		}
		name, pub, path = n, p, pubPath
	default:
		return nil, usagef("-vrf-key or -vrf-pub is required")
	}
	if name != issuer {
		return nil, fmt.Errorf("VRF key %s is named %q, but the signing key is issuer %q", path, name, issuer)
	}
	return pub, nil
}

// readNewKey reads the public half of an issuer's next signing key from a
// private key file (refused if its permissions are loose) or from a
// verifier key file, told apart by their text.
func readNewKey(path string) (name string, pub ed25519.PublicKey, err error) {
	b, err := readFile(path, maxKeyFile)
	if err != nil {
		return "", nil, fmt.Errorf("couldn't read new key: %w", err)
	}
	switch k := kindOf(b); k {
	case kindSigner:
		s, err := readSigner(path)
		if err != nil {
			return "", nil, err
		}
		return s.Name(), s.Public(), nil
	case kindVerifier, kindUnknown:
	default:
		return "", nil, fmt.Errorf("%s is %v, not %v or %v", path, k, kindSigner, kindVerifier)
	}
	v, err := keys.ParseVerifier(string(b))
	if err != nil {
		return "", nil, fmt.Errorf("couldn't parse new key %s: %w", path, err)
	}
	return v.Name, v.Public, nil
}

// readHolderKey reads a holder's Ed25519 public key: a PEM "PUBLIC KEY"
// (PKIX) block, as "credlog issuer issue" writes, or a signed-note
// verifier key.
func readHolderKey(path string) (ed25519.PublicKey, error) {
	b, err := readFile(path, maxKeyFile)
	if err != nil {
		return nil, fmt.Errorf("couldn't read holder key: %w", err)
	}
	switch k := kindOf(b); k {
	case kindPEM:
		return parseHolderPEM(path, b)
	case kindSigner, kindVRFPrivate:
		return nil, fmt.Errorf("holder key %s is %v: give the holder's public key", path, k)
	case kindVRFPublic:
		return nil, fmt.Errorf("holder key %s is %v, not an Ed25519 public key", path, k)
	}
	v, err := keys.ParseVerifier(string(b))
	if err != nil {
		return nil, fmt.Errorf("couldn't parse holder key %s: not a PEM PUBLIC KEY nor a verifier key: %w", path, err)
	}
	return v.Public, nil
}

// parseHolderPEM parses a PEM "PUBLIC KEY" block holding an Ed25519 key.
func parseHolderPEM(path string, b []byte) (ed25519.PublicKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("couldn't parse holder key %s: bad PEM", path)
	}
	if block.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("couldn't parse holder key %s: PEM block is %q, want \"PUBLIC KEY\"", path, block.Type)
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("couldn't parse holder key %s: %w", path, err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("couldn't parse holder key %s: %T is not an Ed25519 key", path, k)
	}
	return pub, nil
}

// holderKeyPEM returns the PEM texts (PKCS #8 private, PKIX public) of a
// holder key pair.
func holderKeyPEM(priv ed25519.PrivateKey) (private, public []byte, err error) {
	p8, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, fmt.Errorf("couldn't encode holder private key: %w", err)
	}
	pk, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return nil, nil, fmt.Errorf("couldn't encode holder public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pk}), nil
}
