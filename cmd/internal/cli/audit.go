package cli

import (
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/transparency-dev/tessera/client"

	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/replay"
	"github.com/credlog/credlog/log/state"
)

// Exit codes of credlog audit, one per kind of failed check.
const (
	ExitAuditViolation = 11 // an entry breaks a check (replay.EntryError)
	ExitAuditTree      = 12 // the entries served are not the checkpoint's (replay.TreeError)
	ExitAuditSignature = 13 // the checkpoint is not signed by the policy's log (replay.ErrCheckpoint)
	ExitAuditQuorum    = 14 // the checkpoint lacks the witness quorum (replay.ErrQuorum)
)

// auditProgressEvery is how often audit updates its progress line.
const auditProgressEvery = time.Second

var auditCommand = &command{
	name:     "audit",
	synopsis: "-log URL -policy FILE [-format table|csv|json] [-hashes-only] [-progress auto|always|never]",
	summary:  "replay a whole log and check every entry",
	doc: `
Audit replays the log at URL from index 0 (docs/AUDIT.md). It fetches the
latest checkpoint and checks that it is signed by the policy's log key and
cosigned by the policy's witness quorum (a c2sp.org/tlog-policy file); then
it fetches every entry up to it, and checks every issuer signature, every
state rule, every map-root entry against the map rebuilt from the entries
before it, and that the entries give the checkpoint's tree root. With
-hashes-only it checks the tree root only.

It prints statistics by event type, issuer, reason and day (UTC) as a
table, CSV or JSON (-format). A progress line goes to standard error when
it is a terminal (-progress auto), or always, or never.

It exits 0 if everything holds. Otherwise it prints the evidence (the
entry's index and bytes, the check that failed, the checkpoint) and exits:

  11  an entry breaks a check: a bad signature, a state rule, a wrong
      map-root entry, or an entry that does not parse
  12  the entries served do not give the checkpoint's root
  13  the checkpoint is not signed by the policy's log
  14  the checkpoint lacks the policy's witness quorum

1 is any other failure (the log cannot be reached), 2 a usage error.`,
	setup: func(fs *flag.FlagSet) func(*env, []string) error {
		var o auditOptions
		fs.StringVar(&o.logURL, "log", "", "the log's `URL`")
		fs.StringVar(&o.policy, "policy", "", "the tlog-policy `file`: log key, witnesses, quorum")
		fs.StringVar(&o.format, "format", "table", "output `format`: table, csv or json")
		fs.BoolVar(&o.hashesOnly, "hashes-only", false, "check the tree root only, not the entries")
		fs.StringVar(&o.progress, "progress", "auto", "progress line on standard error: auto (on a terminal), always or never")
		return func(e *env, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			if err := requireFlags("log", o.logURL, "policy", o.policy); err != nil {
				return err
			}
			if !slices.Contains([]string{"table", "csv", "json"}, o.format) {
				return usagef("-format must be table, csv or json, not %q", o.format)
			}
			if !slices.Contains([]string{"auto", "always", "never"}, o.progress) {
				return usagef("-progress must be auto, always or never, not %q", o.progress)
			}
			return runAudit(e, &o)
		}
	},
}

type auditOptions struct {
	logURL, policy, format, progress string
	hashesOnly                       bool
}

// runAudit runs credlog audit.
func runAudit(e *env, o *auditOptions) error {
	pol, err := readPolicy(o.policy)
	if err != nil {
		return err
	}
	u, err := url.Parse(o.logURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return usagef("-log must be an http or https URL, not %q", o.logURL)
	}
	f, err := client.NewHTTPFetcher(u, &http.Client{Timeout: time.Minute})
	if err != nil {
		return err
	}
	ctx := context.Background()
	cp, plog, err := replay.FetchCheckpoint(ctx, f, pol)
	switch {
	case errors.Is(err, replay.ErrCheckpoint):
		return &exitError{code: ExitAuditSignature, err: err}
	case errors.Is(err, replay.ErrQuorum):
		return &exitError{code: ExitAuditQuorum, err: err}
	case err != nil:
		return err
	}
	logKey, err := replay.LogKey(plog)
	if err != nil {
		return err
	}
	st := newAuditStats()
	pr := newProgress(e, o.progress, cp.Size)
	opts := replay.Options{HashesOnly: o.hashesOnly, OnProgress: pr.update}
	if !o.hashesOnly {
		opts.OnEntry = st.add
	}
	r := replay.New(cp.Origin, logKey, f, opts)
	err = r.Advance(ctx, cp)
	pr.done(r.Size())
	if err != nil {
		return auditFailure(e, o.format, cp, err)
	}
	rep := &auditReport{
		Log: cp.Origin, Size: cp.Size, Root: cp.Hash, Witnesses: cp.Witnesses, OK: true,
		HashesOnly: o.hashesOnly, Entries: r.Size(), MapRoots: r.MapRoots(),
	}
	if !o.hashesOnly {
		rep.Stats = st
	}
	return writeReport(e.stdout, o.format, rep)
}

// auditStats are the statistics of the entries replayed. Event types are
// entry.Type names, but an issue event that supersedes a credential counts
// as "reissue", not "issue": the counts add up to the entries.
type auditStats struct {
	ByType   map[string]uint64            `json:"by_type"`
	ByIssuer map[string]map[string]uint64 `json:"by_issuer"`
	ByReason map[string]map[string]uint64 `json:"by_reason"`
	ByDay    map[string]map[string]uint64 `json:"by_day"`
}

func newAuditStats() *auditStats {
	return &auditStats{
		ByType: map[string]uint64{}, ByIssuer: map[string]map[string]uint64{},
		ByReason: map[string]map[string]uint64{}, ByDay: map[string]map[string]uint64{},
	}
}

// add counts one entry; it is replay.Options.OnEntry.
func (s *auditStats) add(e *replay.Entry) error {
	if e.Err != nil {
		return nil
	}
	ev := e.Event
	t := ev.Type.String()
	if ev.Type == entry.TypeIssue && ev.Supersedes != nil {
		t = "reissue"
	}
	day := time.Unix(int64(ev.Time), 0).UTC().Format(time.DateOnly)
	s.ByType[t]++
	count(s.ByIssuer, ev.Issuer, t)
	count(s.ByDay, day, t)
	if ev.Type == entry.TypeRevoke || ev.Type == entry.TypeSuspend {
		count(s.ByReason, ev.Type.String(), ev.Reason.String())
	}
	return nil
}

func count(m map[string]map[string]uint64, k1, k2 string) {
	if m[k1] == nil {
		m[k1] = map[string]uint64{}
	}
	m[k1][k2]++
}

// auditReport is what audit prints; its JSON form is documented in
// docs/AUDIT.md.
type auditReport struct {
	Log        string      `json:"log"`
	Size       uint64      `json:"checkpoint_size"`
	Root       []byte      `json:"checkpoint_root"`
	Witnesses  []string    `json:"witnesses"`
	OK         bool        `json:"ok"`
	HashesOnly bool        `json:"hashes_only"`
	Entries    uint64      `json:"entries"`
	MapRoots   uint64      `json:"map_roots_checked"`
	Stats      *auditStats `json:"stats,omitempty"`
	Evidence   *evidence   `json:"evidence,omitempty"`
}

// evidence is what shows a failed check.
type evidence struct {
	Class      string  `json:"class"`           // malformed, signature, rule, map-root, tree
	Index      *uint64 `json:"index,omitempty"` // the entry, when known
	Rule       string  `json:"rule,omitempty"`  // the state rule, for a violation
	Check      string  `json:"check"`           // what failed
	Entry      []byte  `json:"entry,omitempty"` // the entry's bytes
	Checkpoint string  `json:"checkpoint"`      // the checkpoint checked against, verbatim
}

// auditFailure prints the evidence of err and returns the error with its
// exit code.
func auditFailure(e *env, format string, cp *replay.Checkpoint, err error) error {
	ev := &evidence{Checkpoint: string(cp.Raw), Check: err.Error()}
	code := ExitFailure
	if ee := (*replay.EntryError)(nil); errors.As(err, &ee) {
		code, ev.Index, ev.Entry = ExitAuditViolation, &ee.Index, ee.Entry
		ev.Class = map[error]string{replay.ErrMalformed: "malformed", replay.ErrSignature: "signature",
			replay.ErrRule: "rule", replay.ErrMapRoot: "map-root"}[ee.Class]
		if v := (*state.Violation)(nil); errors.As(err, &v) {
			ev.Rule = string(v.Rule)
		}
	} else if te := (*replay.TreeError)(nil); errors.As(err, &te) {
		code, ev.Class = ExitAuditTree, "tree"
		if te.Located {
			ev.Index, ev.Entry = &te.Index, te.Entry
		}
	} else {
		return err
	}
	rep := &auditReport{Log: cp.Origin, Size: cp.Size, Root: cp.Hash, Witnesses: cp.Witnesses, Evidence: ev}
	if werr := writeReport(e.stdout, format, rep); werr != nil {
		return werr
	}
	return &exitError{code: code, err: err}
}

// writeReport prints rep in format.
func writeReport(w io.Writer, format string, rep *auditReport) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	case "csv":
		return writeCSV(w, rep)
	}
	return writeTable(w, rep)
}

// statRows returns the statistics as rows of (dimension, key, event type,
// count), sorted: the CSV schema.
func (s *auditStats) rows() [][]string {
	var rows [][]string
	add := func(dim, key, typ string, n uint64) {
		rows = append(rows, []string{dim, key, typ, strconv.FormatUint(n, 10)})
	}
	for _, t := range sortedKeys(s.ByType) {
		add("type", t, t, s.ByType[t])
	}
	for _, dim := range []struct {
		name string
		m    map[string]map[string]uint64
	}{{"issuer", s.ByIssuer}, {"day", s.ByDay}} {
		for _, k := range sortedKeys(dim.m) {
			for _, t := range sortedKeys(dim.m[k]) {
				add(dim.name, k, t, dim.m[k][t])
			}
		}
	}
	for _, t := range sortedKeys(s.ByReason) {
		for _, reason := range sortedKeys(s.ByReason[t]) {
			add("reason", reason, t, s.ByReason[t][reason])
		}
	}
	return rows
}

func writeCSV(w io.Writer, rep *auditReport) error {
	cw := csv.NewWriter(w)
	if rep.Evidence != nil {
		ev := rep.Evidence
		idx := ""
		if ev.Index != nil {
			idx = strconv.FormatUint(*ev.Index, 10)
		}
		cw.Write([]string{"class", "index", "rule", "check", "entry", "checkpoint"})
		cw.Write([]string{ev.Class, idx, ev.Rule, ev.Check, base64.StdEncoding.EncodeToString(ev.Entry), ev.Checkpoint})
	} else {
		cw.Write([]string{"dimension", "key", "event_type", "count"})
		cw.Write([]string{"total", "", "", strconv.FormatUint(rep.Entries, 10)})
		if rep.Stats != nil {
			cw.WriteAll(rep.Stats.rows())
		}
	}
	cw.Flush()
	return cw.Error()
}

// tableTypes are the columns of the per-issuer and per-day tables.
var tableTypes = []string{"issuer-key", "issue", "reissue", "suspend", "resume", "revoke", "map-root"}

func writeTable(w io.Writer, rep *auditReport) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "log\t%s\n", rep.Log)
	cosigned := "no witness"
	if len(rep.Witnesses) > 0 {
		cosigned = strings.Join(rep.Witnesses, ", ")
	}
	fmt.Fprintf(tw, "checkpoint\tsize %d, root %s, cosigned by %s\n", rep.Size, base64.StdEncoding.EncodeToString(rep.Root), cosigned)
	if ev := rep.Evidence; ev != nil {
		fmt.Fprintf(tw, "result\tFAILED (%s)\n", ev.Class)
		if ev.Index != nil {
			fmt.Fprintf(tw, "index\t%d\n", *ev.Index)
		}
		if ev.Rule != "" {
			fmt.Fprintf(tw, "rule\t%s\n", ev.Rule)
		}
		fmt.Fprintf(tw, "check\t%s\n", ev.Check)
		if ev.Entry != nil {
			fmt.Fprintf(tw, "entry (base64)\t%s\n", base64.StdEncoding.EncodeToString(ev.Entry))
		}
		tw.Flush()
		fmt.Fprintf(w, "checkpoint checked against:\n%s", ev.Checkpoint)
		return nil
	}
	what := "every entry, signature, state rule and map-root entry, and the tree root"
	if rep.HashesOnly {
		what = "the tree root (hashes only)"
	}
	fmt.Fprintf(tw, "result\tOK: %s\n", what)
	fmt.Fprintf(tw, "entries\t%d (%d map-root entries checked)\n", rep.Entries, rep.MapRoots)
	if s := rep.Stats; s != nil {
		fmt.Fprintf(tw, "\nevent type\tentries\n")
		for _, t := range sortedKeys(s.ByType) {
			fmt.Fprintf(tw, "%s\t%d\n", t, s.ByType[t])
		}
		grid(tw, "issuer", s.ByIssuer)
		grid(tw, "day (UTC)", s.ByDay)
		fmt.Fprintf(tw, "\nreason\tsuspend\trevoke\n")
		reasons := map[string]bool{}
		for _, m := range s.ByReason {
			for r := range m {
				reasons[r] = true
			}
		}
		for _, r := range sortedKeys(reasons) {
			fmt.Fprintf(tw, "%s\t%d\t%d\n", r, s.ByReason["suspend"][r], s.ByReason["revoke"][r])
		}
	}
	return tw.Flush()
}

// grid prints m, keyed by title then event type, as a table.
func grid(tw io.Writer, title string, m map[string]map[string]uint64) {
	fmt.Fprintf(tw, "\n%s\t%s\n", title, strings.Join(tableTypes, "\t"))
	for _, k := range sortedKeys(m) {
		cells := make([]string, len(tableTypes))
		for i, t := range tableTypes {
			cells[i] = strconv.FormatUint(m[k][t], 10)
		}
		fmt.Fprintf(tw, "%s\t%s\n", k, strings.Join(cells, "\t"))
	}
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// progress prints audit's progress line.
type progress struct {
	e       *env
	on, tty bool
	total   uint64
	start   time.Time
	last    time.Time
	printed bool
}

// newProgress returns the progress line of a replay to total entries;
// mode is auto (on a terminal only), always or never.
func newProgress(e *env, mode string, total uint64) *progress {
	f, isFile := e.stderr.(*os.File)
	tty := false
	if isFile {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	now := e.now()
	return &progress{e: e, on: mode == "always" || (mode == "auto" && tty), tty: tty, total: total, start: now, last: now}
}

// update is replay.Options.OnProgress.
func (p *progress) update(done uint64) {
	if !p.on {
		return
	}
	if now := p.e.now(); now.Sub(p.last) >= auditProgressEvery {
		p.last = now
		p.print(done, now)
	}
}

// done ends the progress line.
func (p *progress) done(done uint64) {
	if !p.on {
		return
	}
	p.print(done, p.e.now())
	if p.tty {
		fmt.Fprintln(p.e.stderr)
	}
}

func (p *progress) print(done uint64, now time.Time) {
	elapsed := now.Sub(p.start).Seconds()
	rate := 0.0
	if elapsed > 0 {
		rate = float64(done) / elapsed
	}
	eta := "?"
	if rate > 0 {
		eta = (time.Duration(float64(p.total-done)/rate) * time.Second).Round(time.Second).String()
	}
	pct := 100.0
	if p.total > 0 {
		pct = 100 * float64(done) / float64(p.total)
	}
	line := fmt.Sprintf("credlog: audit: %d of %d entries (%.1f%%), %.0f entries/s, ETA %s", done, p.total, pct, rate, eta)
	if p.tty {
		fmt.Fprintf(p.e.stderr, "\r\033[K%s", line)
		return
	}
	fmt.Fprintln(p.e.stderr, line)
}
