package witness_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/credlog/credlog/witness"
)

// FuzzParseRequest checks that the request parser never panics, and that
// whatever it accepts has exactly one encoding: the body it parsed.
func FuzzParseRequest(f *testing.F) {
	l := newTestLog(f, "example.com/log")
	l.growTo(20)
	f.Add(l.request(7, 20))
	f.Add(l.request(0, 20))
	f.Add([]byte("old 0\n\nx"))
	f.Add([]byte("old 18446744073709551616\n\nx"))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := witness.ParseRequest(b)
		if err != nil {
			if req != nil {
				t.Fatal("request returned with an error")
			}
			return
		}
		if len(req.Proof) > witness.MaxProofLines {
			t.Fatalf("%d proof lines", len(req.Proof))
		}
		for _, h := range req.Proof {
			if len(h) != 32 {
				t.Fatalf("proof hash of %d bytes", len(h))
			}
		}
		if len(req.Checkpoint) == 0 {
			t.Fatal("empty checkpoint accepted")
		}
		if got := body(req.OldSize, req.Proof, req.Checkpoint); !bytes.Equal(got, b) {
			t.Fatalf("re-encoded request differs:\n%q\n%q", got, b)
		}
	})
}

// FuzzAddCheckpoint runs whole requests through a witness on a real
// database: nothing panics, and whatever is cosigned verifies and is
// consistent with the log.
func FuzzAddCheckpoint(f *testing.F) {
	l := newTestLog(f, "example.com/log")
	l.growTo(20)
	e := newEnv(f, witness.Options{})
	e.addLog(l)
	e.mustCosign(l.request(0, 8))
	f.Add(l.request(8, 20))
	f.Add(l.request(8, 8))
	f.Add(body(8, nil, l.sign(l.text(8, "ext"))))
	f.Add(body(8, l.proof(8, 12), l.sign(l.text(12)+"\n")))
	f.Fuzz(func(t *testing.T, b []byte) {
		cosig, err := e.w.AddCheckpoint(context.Background(), b)
		if err != nil {
			return
		}
		st, err := e.store.Log(context.Background(), l.origin)
		if err != nil {
			t.Fatal(err)
		}
		latest := st.Latest
		if latest.Size > 20 || !bytes.Equal(latest.Root, l.tree.HashAt(latest.Size)) {
			t.Fatalf("cosigned a checkpoint that is not the log's: %d %x", latest.Size, latest.Root)
		}
		if !bytes.HasSuffix([]byte(latest.Cosigned), cosig) {
			t.Fatal("monitoring checkpoint does not carry the returned cosignature")
		}
	})
}
