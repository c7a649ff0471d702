package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/transparency-dev/tessera/client"

	"github.com/credlog/credlog/api"
	"github.com/credlog/credlog/log/monitor"
	"github.com/credlog/credlog/log/witnessclient/policy"
)

// ExitAlerts is the exit code of `credlog monitor run -once` when the
// poll raised at least one alert.
const ExitAlerts = 20

var monitorWatchCommand = &command{
	name:     "monitor watch",
	synopsis: "-state FILE (-cert FILE -vrf-key NAME.vrf.pub | -subject HEX -issuer NAME | -credential HEX -issuer NAME) [-note TEXT]",
	summary:  "add a subject label or credential ID to a monitor's watch list",
	doc: `
Watch adds items to the watch list of the monitor whose state is in
-state (created if missing). With -cert, the holder's own credential: its
subject label (from the certificate's VRF proof, checked with the
issuer's VRF public key) and its credential ID are both watched, and the
credential's issue event is known as the holder's own. With -subject or
-credential, a label or ID given as 64 hex digits.

Every other event naming a watched item raises an alert until it is
authorized (credlog monitor authorize).`,
	setup: func(fs *flag.FlagSet) func(*env, []string) error {
		var statePath, cert, vrfPath, subject, cred, issuer, note string
		fs.StringVar(&statePath, "state", "", "the monitor's state `file`")
		fs.StringVar(&cert, "cert", "", "the holder's certificate `file` (DER or PEM)")
		fs.StringVar(&vrfPath, "vrf-key", "", "the issuer's VRF public key `file` (NAME.vrf.pub), with -cert")
		fs.StringVar(&subject, "subject", "", "a subject label (64 hex digits)")
		fs.StringVar(&cred, "credential", "", "a credential ID (64 hex digits)")
		fs.StringVar(&issuer, "issuer", "", "the issuer's `name`, with -subject or -credential")
		fs.StringVar(&note, "note", "", "a note of your own about the item")
		return func(e *env, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			if err := requireFlags("state", statePath); err != nil {
				return err
			}
			st, err := monitor.Load(statePath)
			if err != nil {
				return err
			}
			var items []monitor.Item
			switch {
			case cert != "":
				if subject != "" || cred != "" {
					return usagef("-cert excludes -subject and -credential")
				}
				if err := requireFlags("vrf-key", vrfPath); err != nil {
					return err
				}
				c, err := readCredential(cert)
				if err != nil {
					return err
				}
				vrfPub, err := issuerVRFPublic(c.Issuer, "", vrfPath)
				if err != nil {
					return err
				}
				label, err := c.Label(vrfPub)
				if err != nil {
					return fmt.Errorf("certificate %s: %w", cert, err)
				}
				items = append(items, monitor.Item{Kind: monitor.Subject, Issuer: c.Issuer, ID: monitor.Hash(label), Note: note},
					monitor.Item{Kind: monitor.Credential, Issuer: c.Issuer, ID: monitor.Hash(c.ID), Note: note})
				st.AddOwn(c.Issuer, c.ID)
			case subject != "" || cred != "":
				if subject != "" && cred != "" {
					return usagef("give -subject or -credential, not both")
				}
				if err := requireFlags("issuer", issuer); err != nil {
					return err
				}
				kind, hexID, flagName := monitor.Subject, subject, "subject"
				if cred != "" {
					kind, hexID, flagName = monitor.Credential, cred, "credential"
				}
				h, err := parseHashFlag(flagName, hexID)
				if err != nil {
					return err
				}
				items = append(items, monitor.Item{Kind: kind, Issuer: issuer, ID: monitor.Hash(h), Note: note})
			default:
				return usagef("give -cert, -subject or -credential")
			}
			for _, it := range items {
				if st.AddWatch(it) {
					fmt.Fprintf(e.stdout, "watching %s\n", it)
				} else {
					fmt.Fprintf(e.stdout, "already watching %s\n", it)
				}
			}
			return st.Save(statePath)
		}
	},
}

var monitorAuthorizeCommand = &command{
	name:     "monitor authorize",
	synopsis: "-state FILE -index N...",
	summary:  "mark logged events as the holder's own, so they raise no alert",
	doc: `
Authorize marks the events at the given indices as known: the holder
recognizes them (a reissue they asked for, a suspension they requested),
and they raise no alert, now or after a restart. Give -index once per
event.`,
	setup: func(fs *flag.FlagSet) func(*env, []string) error {
		var statePath string
		var indices uint64List
		fs.StringVar(&statePath, "state", "", "the monitor's state `file`")
		fs.Var(&indices, "index", "the `index` of a logged event (repeatable)")
		return func(e *env, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			if err := requireFlags("state", statePath); err != nil {
				return err
			}
			if len(indices) == 0 {
				return usagef("give at least one -index")
			}
			if _, err := os.Stat(statePath); err != nil {
				return fmt.Errorf("no monitor state: %w", err)
			}
			st, err := monitor.Load(statePath)
			if err != nil {
				return err
			}
			for _, i := range indices {
				st.Authorize(i)
				fmt.Fprintf(e.stdout, "event %d is known\n", i)
			}
			return st.Save(statePath)
		}
	},
}

var monitorRunCommand = &command{
	name:     "monitor run",
	synopsis: "-state FILE -log URL -policy FILE [-light] [-once] [-interval D] [-webhook URL]",
	summary:  "follow a log and alert on events naming watched items",
	doc: `
Run follows the log at -log (docs/MONITOR.md). Each poll verifies the
log's latest checkpoint against -policy (a c2sp.org/tlog-policy file: the
log's key, the witnesses, the quorum) and its consistency with the last
checkpoint verified; then, in full mode, it replays every new entry
(signatures, state rules, map roots, tree root), and in light mode
(-light) it checks only the map proofs of the watched items.

Alerts are JSON lines on stdout, and POSTed to -webhook if set: an event
naming a watched item that is neither the holder's own credential nor
authorized ("event"), a split view ("split-view"), a checkpoint without
the witness quorum ("quorum"), an entry that breaks the rules
("violation"), a map proof that does not verify ("map"). Each carries
signed evidence and is raised once. The state file is saved after every
poll.

With -once, run polls once and exits: 0 if no alert was raised, 20 if
one was, 1 if the log could not be checked. Without it, run polls every
-interval until interrupted.`,
	setup: func(fs *flag.FlagSet) func(*env, []string) error {
		var statePath, logURL, policyPath, webhook string
		var light, once bool
		interval := 30 * time.Second
		fs.StringVar(&statePath, "state", "", "the monitor's state `file`")
		fs.StringVar(&logURL, "log", "", "the log's `URL`")
		fs.StringVar(&policyPath, "policy", "", "the tlog-policy `file`: log key, witnesses, quorum")
		fs.BoolVar(&light, "light", false, "check only the map proofs of the watched items")
		fs.BoolVar(&once, "once", false, "poll once and exit")
		fs.DurationVar(&interval, "interval", interval, "time between polls")
		fs.StringVar(&webhook, "webhook", "", "a `URL` to POST each alert to, as JSON")
		return func(e *env, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			if err := requireFlags("state", statePath, "log", logURL, "policy", policyPath); err != nil {
				return err
			}
			if interval <= 0 {
				return usagef("-interval must be positive, got %v", interval)
			}
			return runMonitor(e, statePath, logURL, policyPath, webhook, light, once, interval)
		}
	},
}

// runMonitor runs credlog monitor run.
func runMonitor(e *env, statePath, logURL, policyPath, webhook string, light, once bool, interval time.Duration) error {
	pol, err := readPolicy(policyPath)
	if err != nil {
		return err
	}
	st, err := monitor.Load(statePath)
	if err != nil {
		return err
	}
	if len(st.Watch) == 0 {
		fmt.Fprintf(e.stderr, "credlog: monitor run: the watch list is empty: only the log itself is checked\n")
	}
	c, err := api.NewClient(logURL, nil)
	if err != nil {
		return err
	}
	u, err := url.Parse(logURL)
	if err != nil {
		return err
	}
	f, err := client.NewHTTPFetcher(u, nil)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(e.stdout)
	hook := &http.Client{Timeout: 10 * time.Second}
	m, err := monitor.New(monitor.Config{
		Log: c, Fetcher: f, Policy: pol, Light: light, Now: e.now,
		Alert: func(a *monitor.Alert) error {
			if err := enc.Encode(a); err != nil {
				return err
			}
			if webhook != "" {
				postAlert(e, hook, webhook, a)
			}
			return nil
		},
	}, st)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	for {
		n, err := m.Poll(ctx)
		if serr := st.Save(statePath); serr != nil {
			return serr
		}
		if once {
			if err != nil {
				return err
			}
			if n > 0 {
				return &exitError{code: ExitAlerts, err: fmt.Errorf("alerts raised: %d", n)}
			}
			return nil
		}
		if err != nil && ctx.Err() == nil {
			fmt.Fprintf(e.stderr, "credlog: monitor run: %v\n", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}

// postAlert POSTs an alert to a webhook, once; a failure is reported on
// stderr, the alert being on stdout already.
func postAlert(e *env, hc *http.Client, url string, a *monitor.Alert) {
	b, err := json.Marshal(a)
	if err == nil {
		var resp *http.Response
		resp, err = hc.Post(url, "application/json", bytes.NewReader(b))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				err = fmt.Errorf("status %s", resp.Status)
			}
		}
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "credlog: monitor run: webhook: %v\n", err)
	}
}

// readPolicy reads and parses a tlog-policy file.
func readPolicy(path string) (*policy.Policy, error) {
	pb, err := readFile(path, policy.MaxSize)
	if err != nil {
		return nil, fmt.Errorf("couldn't read policy: %w", err)
	}
	pol, err := policy.Parse(pb)
	if err != nil {
		return nil, fmt.Errorf("couldn't parse policy %s: %w", path, err)
	}
	return pol, nil
}

// uint64List is a repeatable flag of unsigned integers.
type uint64List []uint64

func (l *uint64List) String() string { return fmt.Sprint([]uint64(*l)) }

func (l *uint64List) Set(s string) error {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return errors.New("not an index")
	}
	*l = append(*l, v)
	return nil
}
