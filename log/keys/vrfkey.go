package keys

import (
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/credlog/credlog/log/vrf"
)

const (
	vrfPrivatePrefix = "PRIVATE+VRF+"
	vrfPublicPrefix  = "VRF+"
)

// GenerateVRF returns a new VRF key for the issuer named name, as private
// and public key texts: "PRIVATE+VRF+<name>+<base64 seed>" and
// "VRF+<name>+<base64 public key>".
func GenerateVRF(name string, rand io.Reader) (priv, pub string, err error) {
	if err := checkName(name); err != nil {
		return "", "", err
	}
	k, err := vrf.GenerateKey(rand)
	if err != nil {
		return "", "", fmt.Errorf("couldn't generate VRF key %q: %w", name, err)
	}
	priv = vrfPrivatePrefix + name + "+" + base64.StdEncoding.EncodeToString(k.Seed())
	return priv, VRFPublicKey(name, k.PublicKey()), nil
}

// VRFPublicKey returns the public key text of a VRF key named name.
func VRFPublicKey(name string, pub []byte) string {
	return vrfPublicPrefix + name + "+" + base64.StdEncoding.EncodeToString(pub)
}

// ParseVRFPrivate parses a private VRF key text.
func ParseVRFPrivate(text string) (name string, key *vrf.PrivateKey, err error) {
	name, raw, err := splitVRF(text, vrfPrivatePrefix, vrf.SeedSize)
	if err != nil {
		return "", nil, err
	}
	key, err = vrf.NewKeyFromSeed(raw)
	if err != nil {
		return "", nil, fmt.Errorf("%w: VRF private key %q: %v", ErrKey, name, err)
	}
	return name, key, nil
}

// ParseVRFPublic parses a public VRF key text. Keys that are not canonical
// point encodings or that have small order are refused.
func ParseVRFPublic(text string) (name string, pub []byte, err error) {
	name, raw, err := splitVRF(text, vrfPublicPrefix, vrf.PublicKeySize)
	if err != nil {
		return "", nil, err
	}
	if err := vrf.CheckPublicKey(raw); err != nil {
		return "", nil, fmt.Errorf("%w: VRF public key %q: %v", ErrKey, name, err)
	}
	return name, raw, nil
}

// splitVRF parses "<prefix><name>+<base64>" with size bytes of key data.
func splitVRF(text, prefix string, size int) (string, []byte, error) {
	text = strings.TrimSpace(text)
	rest, ok := strings.CutPrefix(text, prefix)
	if !ok {
		return "", nil, fmt.Errorf("%w: VRF key does not start with %q", ErrKey, prefix)
	}
	name, b64, ok := strings.Cut(rest, "+")
	if !ok {
		return "", nil, fmt.Errorf("%w: VRF key has no key data", ErrKey)
	}
	if err := checkName(name); err != nil {
		return "", nil, err
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(b64)
	if err != nil || len(raw) != size || base64.StdEncoding.EncodeToString(raw) != b64 {
		return "", nil, fmt.Errorf("%w: VRF key %q: key data is not %d bytes of base64", ErrKey, name, size)
	}
	return name, raw, nil
}

// checkName applies the signed-note rule for key names: non-empty, valid
// UTF-8, no '+' and no whitespace or control characters.
func checkName(name string) error {
	if name == "" || !utf8.ValidString(name) || strings.ContainsRune(name, '+') ||
		strings.IndexFunc(name, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return fmt.Errorf("%w: bad key name %q", ErrKey, name)
	}
	return nil
}
