package cli

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/keys"
)

func TestEntryShowForms(t *testing.T) {
	k := keygenIn(t, t.TempDir(), "id.example.gov")
	prefix, ev := issueIn(t, k, "alice", "7501011234")
	raw, err := os.ReadFile(prefix + ".event")
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) string {
		p := filepath.Join(k.dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	hexText := hex.EncodeToString(raw)
	hexFile := write("e.hex", []byte(hexText+"\n"))
	hexWrapped := write("e.hexwrap", []byte(strings.ToUpper(hexText[:64])+"\n"+hexText[64:]+"\n"))
	b64File := prefix + ".event.b64"
	b64Wrapped := write("e.b64wrap", []byte(base64.StdEncoding.EncodeToString(raw)[:40]+"\r\n"+base64.StdEncoding.EncodeToString(raw)[40:]))

	want := []string{
		"type: issue",
		"issuer: id.example.gov",
		fmt.Sprintf("key id: %08x", ev.KeyID),
		fmt.Sprintf("time: %d (2025-03-04T05:06:00Z)", testMinute.Unix()),
		fmt.Sprintf("subject: %x", ev.Subject),
		fmt.Sprintf("credential: %x", ev.Credential),
		fmt.Sprintf("not before: %d (2025-03-04T05:06:00Z)", ev.NotBefore),
		fmt.Sprintf("not after: %d (2026-03-04T05:06:00Z)", ev.NotAfter),
		"version: 1",
		"supersedes: none",
		"commitment: " + strings.Repeat("00", 32),
		fmt.Sprintf("signature: %x", ev.Signature),
		fmt.Sprintf("encoded size: %d bytes", len(raw)),
	}
	for _, tc := range []struct {
		name  string
		stdin []byte
		args  []string
	}{
		{"raw", nil, []string{prefix + ".event"}},
		{"raw forced", nil, []string{"-raw", prefix + ".event"}},
		{"hex", nil, []string{hexFile}},
		{"hex forced", nil, []string{"-hex", hexFile}},
		{"hex wrapped upper case", nil, []string{hexWrapped}},
		{"base64", nil, []string{b64File}},
		{"base64 forced", nil, []string{"-base64", b64File}},
		{"base64 wrapped", nil, []string{b64Wrapped}},
		{"stdin raw", raw, []string{"-"}},
		{"stdin hex", []byte(hexText), []string{"-"}},
		{"stdin base64 flag after", []byte(base64.StdEncoding.EncodeToString(raw)), []string{"-", "-base64"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := credlog(t, tc.stdin, append([]string{"entry", "show"}, tc.args...)...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
			if strings.Join(lines, "\n") != strings.Join(want, "\n") {
				t.Errorf("output:\n%s\nwant:\n%s", r.stdout, strings.Join(want, "\n"))
			}
		})
	}
}

func TestEntryShowJSON(t *testing.T) {
	k := keygenIn(t, t.TempDir(), "id.example.gov")
	prefix, ev := issueIn(t, k, "alice", "1")
	r := mustRun(t, "entry", "show", "-json", prefix+".event")
	var got map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("%v:\n%s", err, r.stdout)
	}
	for field, want := range map[string]any{
		"type":       "issue",
		"issuer":     "id.example.gov",
		"key_id":     fmt.Sprintf("%08x", ev.KeyID),
		"time":       float64(ev.Time),
		"credential": hex.EncodeToString(ev.Credential[:]),
		"subject":    hex.EncodeToString(ev.Subject[:]),
		"not_before": float64(ev.NotBefore),
		"not_after":  float64(ev.NotAfter),
		"version":    float64(1),
		"signature":  hex.EncodeToString(ev.Signature[:]),
	} {
		if got[field] != want {
			t.Errorf("%s: %v, want %v", field, got[field], want)
		}
	}
	if v, ok := got["supersedes"]; !ok || v != nil {
		t.Errorf("supersedes: %v (present %v), want null", v, ok)
	}
	if _, ok := got["reason"]; ok {
		t.Error("issue event shows a reason")
	}

	// The JSON object has the fields of the text form, in its order.
	text := mustRun(t, "entry", "show", prefix+".event").stdout
	var keys []string
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.Token() // {
	for dec.More() {
		k, _ := dec.Token()
		keys = append(keys, k.(string))
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		name, _, _ := strings.Cut(line, ": ")
		names = append(names, strings.ReplaceAll(name, " ", "_"))
	}
	if strings.Join(keys, ",") != strings.Join(names, ",") {
		t.Errorf("JSON keys %v, want the text fields %v", keys, names)
	}
}

func TestEntryShowOtherTypes(t *testing.T) {
	dir := t.TempDir()
	k := keygenIn(t, dir, "id.example.gov")
	cert, ev1 := issueIn(t, k, "v1", "42")
	mustRun(t, "issuer", "reissue", "-key", k.key, "-vrf-key", k.vrfKey, "-id-number", "42", "-supersedes", cert+".cert.der", "-version", "2", "-out", filepath.Join(dir, "v2"))
	mustRun(t, "issuer", "revoke", "-key", k.key, "-cert", cert+".cert.der", "-vrf-pub", k.vrfPub, "-reason", "deceased", "-out", filepath.Join(dir, "rev"))
	next := keygenIn(t, t.TempDir(), "id.example.gov")
	mustRun(t, "issuer", "rotate-key", "-key", k.key, "-new-key", next.key, "-vrf-pub", k.vrfPub, "-out", filepath.Join(dir, "rot"))

	for _, tc := range []struct {
		file string
		want []string
	}{
		{"v2.event", []string{"type: issue", "version: 2", fmt.Sprintf("supersedes: %x", ev1.Credential)}},
		{"rev.event.b64", []string{"type: revoke", "reason: deceased", fmt.Sprintf("credential: %x", ev1.Credential)}},
		{"rot.event", []string{"type: issuer-key", "public key: " + strings.TrimSpace(readString(t, next.vkey)), "vrf key: " + strings.TrimSpace(readString(t, k.vrfPub))}},
	} {
		r := mustRun(t, "entry", "show", filepath.Join(dir, tc.file))
		for _, w := range tc.want {
			if !strings.Contains(r.stdout, w+"\n") {
				t.Errorf("%s: output lacks %q:\n%s", tc.file, w, r.stdout)
			}
		}
		j := mustRun(t, "entry", "show", "-json", filepath.Join(dir, tc.file))
		var obj map[string]any
		if err := json.Unmarshal([]byte(j.stdout), &obj); err != nil || obj["type"] != strings.TrimPrefix(tc.want[0], "type: ") {
			t.Errorf("%s -json: type %v, err %v:\n%s", tc.file, obj["type"], err, j.stdout)
		}
	}
}

func TestEntryShowMapRoot(t *testing.T) {
	// The log writes map-root events; sign one as the log would.
	skey, _, err := keys.Generate("log.example", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := keys.ParseSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	ev := &entry.Event{Type: entry.TypeMapRoot, Time: 1700000000, TreeSize: 1234, MapRoot: entry.Hash{1, 2, 3}}
	raw, err := signEvent(ev, s)
	if err != nil {
		t.Fatal(err)
	}
	r := credlog(t, raw, "entry", "show", "-")
	for _, w := range []string{"type: map-root", "issuer: log.example", "tree size: 1234", fmt.Sprintf("map root: %x", ev.MapRoot)} {
		if !strings.Contains(r.stdout, w+"\n") {
			t.Errorf("output lacks %q:\n%s", w, r.stdout)
		}
	}
}

func TestEntryShowGarbage(t *testing.T) {
	k := keygenIn(t, t.TempDir(), "id.example.gov")
	prefix, _ := issueIn(t, k, "alice", "1")
	raw, err := os.ReadFile(prefix + ".event")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		input []byte
		args  []string
		want  string
	}{
		{"binary garbage", []byte{0xff, 0, 1, 2}, nil, "unknown version 255"},
		{"text garbage", []byte("garbage!\n"), nil, "unknown version"},
		{"truncated", raw[:len(raw)-1], nil, "truncated"},
		{"trailing byte", append(append([]byte{}, raw...), 0), nil, "1 trailing bytes"},
		{"unknown type", append([]byte{1, 9}, raw[2:]...), nil, "unknown event type 9"},
		{"bad hex", []byte("0g"), []string{"-hex"}, "bad hex"},
		{"bad base64", []byte("!!!!"), []string{"-base64"}, "bad base64"},
		{"empty", nil, nil, "empty entry"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append([]string{"entry", "show"}, tc.args...), "-")
			r := credlog(t, tc.input, args...)
			if r.code != ExitFailure || !strings.HasPrefix(r.stderr, "credlog: entry show: couldn't") || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want 1 and %q", r.code, r.stderr, tc.want)
			}
		})
	}
	if r := credlog(t, nil, "entry", "show", filepath.Join(k.dir, "missing")); r.code != ExitFailure || !strings.Contains(r.stderr, "missing") {
		t.Errorf("missing file: exit %d, stderr %q", r.code, r.stderr)
	}
}
