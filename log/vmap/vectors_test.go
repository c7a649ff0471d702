package vmap

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/state"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json from the code")

// The test vectors pin every byte format of the map: key derivation,
// value encodings, roots and proofs. They were written by this code
// (-update) and each map's root is checked against the reference too;
// a change to any format fails the test.
type vectors struct {
	Keys []struct {
		Kind   string `json:"kind"`
		Issuer string `json:"issuer"`
		Hash   string `json:"id_or_label"`
		Key    string `json:"key"`
	} `json:"keys"`
	Maps []vectorMap `json:"maps"`
}

type vectorMap struct {
	Name    string `json:"name"`
	Entries []struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	} `json:"entries"`
	Root   string `json:"root"`
	Proofs []struct {
		Key   string `json:"key"`
		Proof string `json:"proof"`
	} `json:"proofs"`
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// exampleMap is the worked example of docs/MAP.md: one credential, active
// since its issue at index 7, and its subject.
func exampleMap(t *testing.T) (refMap, Key, Key) {
	id, label := entry.Hash(bytes.Repeat([]byte{0x11}, 32)), entry.Hash(bytes.Repeat([]byte{0x22}, 32))
	cu, err := CredentialUpdate(&state.Credential{Issuer: "id.example.gov", ID: id, Subject: label, Version: 1,
		Status: state.StatusActive, IssueIndex: 7, LastIndex: 7})
	if err != nil {
		t.Fatal(err)
	}
	su, err := SubjectUpdate(&state.Subject{Issuer: "id.example.gov", Label: label, Version: 1, Live: id, Events: 1,
		Digest: state.SubjectDigest(entry.Hash{}, 7)})
	if err != nil {
		t.Fatal(err)
	}
	return refMap{cu.Key: cu.Value, su.Key: su.Value}, cu.Key, su.Key
}

func vectorMaps(t *testing.T) map[string]refMap {
	example, _, _ := exampleMap(t)
	deep1, deep2 := Key(bytes.Repeat([]byte{0xa5}, 32)), Key(bytes.Repeat([]byte{0xa5}, 32))
	deep2[31] ^= 1
	sixteen := refMap{}
	for i := range 16 {
		sixteen[Key(sha256.Sum256([]byte{byte(i)}))] = fmt.Appendf(nil, "value %d", i)
	}
	return map[string]refMap{
		"empty":            {},
		"one key":          {Key{0x80}: []byte("one")},
		"split at bit 0":   {Key{0x00}: []byte("left"), Key{0x80}: []byte("right")},
		"split at bit 255": {deep1: []byte("a"), deep2: []byte("b")},
		"worked example":   example,
		"sixteen keys":     sixteen,
	}
}

func TestVectors(t *testing.T) {
	path := filepath.Join("testdata", "vectors.json")
	var got vectors
	for _, k := range []struct{ kind, issuer, hash string }{
		{"credential", "id.example.gov", strings.Repeat("11", 32)},
		{"credential", "other.example", strings.Repeat("11", 32)},
		{"subject", "id.example.gov", strings.Repeat("22", 32)},
	} {
		h := entry.Hash(unhex(t, k.hash))
		key := SubjectKey(k.issuer, h)
		if k.kind == "credential" {
			key = CredentialKey(k.issuer, h)
		}
		got.Keys = append(got.Keys, struct {
			Kind   string `json:"kind"`
			Issuer string `json:"issuer"`
			Hash   string `json:"id_or_label"`
			Key    string `json:"key"`
		}{k.kind, k.issuer, k.hash, key.String()})
	}
	maps := vectorMaps(t)
	for _, name := range []string{"empty", "one key", "split at bit 0", "split at bit 255", "worked example", "sixteen keys"} {
		m := maps[name]
		s := storeOf(t, m)
		vm := vectorMap{Name: name, Root: hexHash(refRoot(m))}
		probe := []Key{{0x40}, {0xc0}}
		for _, u := range sortedUpdates(m) {
			vm.Entries = append(vm.Entries, struct {
				Key   string `json:"key"`
				Value string `json:"value"`
			}{u.Key.String(), hex.EncodeToString(u.Value)})
			probe = append(probe, u.Key)
		}
		for _, k := range probe {
			p, _, err := NewTree(s).Prove(context.Background(), k)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := p.Marshal()
			vm.Proofs = append(vm.Proofs, struct {
				Key   string `json:"key"`
				Proof string `json:"proof"`
			}{k.String(), hex.EncodeToString(b)})
		}
		got.Maps = append(got.Maps, vm)
	}
	out, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, '\n')
	if *update {
		if err := os.WriteFile(path, out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, want) {
		t.Fatalf("the code no longer produces %s (run with -update only if the format change is intended)", path)
	}
	// Every proof in the file verifies from the file alone.
	for _, vm := range got.Maps {
		root := Hash(unhex(t, vm.Root))
		vals := map[string][]byte{}
		for _, e := range vm.Entries {
			vals[e.Key] = unhex(t, e.Value)
		}
		for _, p := range vm.Proofs {
			key, proof := Key(unhex(t, p.Key)), unhex(t, p.Proof)
			if v, ok := vals[p.Key]; ok {
				err = VerifyMembership(root, key, v, proof)
			} else {
				err = VerifyAbsence(root, key, proof)
			}
			if err != nil {
				t.Errorf("%s: proof of %s: %v", vm.Name, p.Key, err)
			}
		}
	}
}

func sortedUpdates(m refMap) []Update {
	var p Pending
	for k, v := range m {
		p.set(Update{Key: k, Value: v})
	}
	return p.Updates()
}

// TestMapDocExample checks that every hex value docs/MAP.md shows for its
// worked example is what the code computes.
func TestMapDocExample(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "MAP.md"))
	if err != nil {
		t.Fatal(err)
	}
	m, ck, sk := exampleMap(t)
	s := storeOf(t, m)
	want := map[string]string{
		"credential key":   ck.String(),
		"subject key":      sk.String(),
		"credential value": hex.EncodeToString(m[ck]),
		"subject value":    hex.EncodeToString(m[sk]),
		"root":             hexHash(refRoot(m)),
	}
	other := CredentialKey("other.example", entry.Hash(bytes.Repeat([]byte{0x11}, 32)))
	for name, k := range map[string]Key{"credential proof": ck, "subject proof": sk, "absence proof": other} {
		p, _, err := NewTree(s).Prove(context.Background(), k)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := p.Marshal()
		want[name] = hex.EncodeToString(b)
	}
	want["other key"] = other.String()
	text := strings.Join(strings.Fields(string(doc)), "")
	for name, h := range want {
		if !strings.Contains(text, h) {
			t.Errorf("docs/MAP.md does not show the %s %s", name, h)
		}
	}
}

// TestFuzzCorpus checks that the committed corpus files named for a
// defect are rejected and the others accepted, so that the corpus keeps
// covering both sides of each parser.
func TestFuzzCorpus(t *testing.T) {
	parsers := map[string]func(vals [][]byte, depth int) error{
		"FuzzParseProof":           func(v [][]byte, _ int) error { _, err := ParseProof(v[0]); return err },
		"FuzzParseCredentialValue": func(v [][]byte, _ int) error { _, err := ParseCredentialValue(v[0]); return err },
		"FuzzParseSubjectValue":    func(v [][]byte, _ int) error { _, err := ParseSubjectValue(v[0]); return err },
		"FuzzParseNode": func(v [][]byte, d int) error {
			_, err := ParseNode(PathID(Key{0x80, 0x80}, d), v[0])
			return err
		},
	}
	valid := map[string]bool{
		"membership": true, "absence-empty": true, "absence-other-leaf": true, "depth-256-full": true,
		"active": true, "suspended": true, "revoked": true, "superseded": true, "one-issue": true,
		"leaf": true, "interior": true,
	}
	for target, parse := range parsers {
		files, err := filepath.Glob(filepath.Join("testdata", "fuzz", target, "*"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no corpus (%v)", target, err)
		}
		for _, f := range files {
			vals, depth := readCorpus(t, f)
			err := parse(vals, depth)
			if name := filepath.Base(f); valid[name] != (err == nil) {
				t.Errorf("%s/%s: %v", target, name, err)
			}
		}
	}
}

// readCorpus reads a "go test fuzz v1" file of []byte and uint16 values.
func readCorpus(t *testing.T, path string) ([][]byte, int) {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	var vals [][]byte
	depth := 0
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "[]byte("):
			s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(line, "[]byte("), ")"))
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			vals = append(vals, []byte(s))
		case strings.HasPrefix(line, "uint16("):
			depth, err = strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(line, "uint16("), ")"))
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
		}
	}
	return vals, depth
}

func hexHash(h Hash) string { return hex.EncodeToString(h[:]) }
