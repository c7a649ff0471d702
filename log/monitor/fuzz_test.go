package monitor_test

import (
	"bytes"
	"testing"

	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/monitor"
)

// FuzzParseState: any input parses or is refused without a panic, and
// what parses encodes to a file that parses back to the same encoding.
func FuzzParseState(f *testing.F) {
	st := monitor.NewState()
	st.AddWatch(monitor.Item{Kind: monitor.Subject, Issuer: "id.example.gov", ID: monitor.Hash(entry.Hash{1}), Note: "mine"})
	st.AddOwn("id.example.gov", entry.Hash{2})
	st.Authorize(7)
	st.Authorize(3)
	seed, err := st.Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`{"version":1,"watch":[]}`))
	f.Add([]byte(`{"version":1,"watch":[],"known":[2,1]}`))
	f.Add([]byte(`{"version":2}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := monitor.ParseState(b)
		if err != nil {
			return
		}
		enc, err := st.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		st2, err := monitor.ParseState(enc)
		if err != nil {
			t.Fatalf("re-encoded state does not parse: %v\n%s", err, enc)
		}
		enc2, _ := st2.Marshal()
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable:\n%s\n%s", enc, enc2)
		}
	})
}
