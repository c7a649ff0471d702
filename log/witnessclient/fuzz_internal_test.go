package witnessclient

import (
	"net/http"
	"strconv"
	"testing"
)

// FuzzParseSizeBody fuzzes the parser of a witness's 409 answer (a
// text/x.tlog.size body: a decimal and a newline): nothing panics, and
// what it accepts is exactly the canonical encoding of the size.
func FuzzParseSizeBody(f *testing.F) {
	f.Add("text/x.tlog.size", []byte("12\n"))
	f.Add("text/x.tlog.size; charset=utf-8", []byte("0\n"))
	f.Add("text/plain", []byte("12\n"))
	f.Add("text/x.tlog.size", []byte("012\n"))
	f.Add("text/x.tlog.size", []byte("18446744073709551616\n"))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		r := &response{code: http.StatusConflict, header: http.Header{"Content-Type": {contentType}}, body: body}
		n, err := parseSizeBody(r)
		if err != nil {
			return
		}
		if want := strconv.FormatUint(n, 10) + "\n"; string(body) != want {
			t.Fatalf("accepted %q as size %d", body, n)
		}
	})
}
