package logd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/sumdb/note"

	"github.com/credlog/credlog/api"
	"github.com/credlog/credlog/log/keys"
	"github.com/credlog/credlog/log/storage"
	"github.com/credlog/credlog/log/storage/postgres"
)

// leaseCheckEvery is how often the sequencing instance checks the
// connection that holds its lease.
const leaseCheckEvery = 500 * time.Millisecond

// forwardedHeader marks a submission forwarded by another instance, so
// that it is never forwarded twice.
const forwardedHeader = "Credlog-Forwarded"

// errLeaseLost stops an instance whose sequencer lease connection failed.
var errLeaseLost = errors.New("lost the sequencer lease: stopped sequencing")

// runShared runs credlogd on a PostgreSQL database that other instances
// may share. Every instance serves reads from the database at once. One
// instance at a time holds the sequencer lease (postgres.Leader): it
// builds its sequencer from storage only once it holds it, and serves
// submissions; the others forward submissions to the URL it advertises.
// An instance that loses its lease stops sequencing and Run returns an
// error (a supervisor restarts it as a standby).
func runShared(ctx context.Context, cfg *Config, signer *keys.Signer, logger *slog.Logger, ready func(addr string)) error {
	store, err := postgres.Open(ctx, cfg.Database)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := checkLogKey(ctx, store, signer); err != nil {
		return err
	}
	reg := newRegistry()
	ln, err := listen(cfg)
	if err != nil {
		return err
	}
	advertise := cfg.Advertise
	if advertise == "" {
		advertise = "http://" + ln.Addr().String() + "/"
	}
	h := &sharedHandler{
		read: api.NewServer(api.Config{Storage: store, Logger: logger, Registry: reg,
			MaxBatchBody: cfg.MaxBatchBody, HealthMaxLag: cfg.HealthMaxLag.Duration, ReadCache: cfg.ReadCache}),
		store: store, self: advertise, logger: logger,
		client: &http.Client{Transport: &http.Transport{
			Proxy: nil, DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second,
		}},
	}
	return serve(ctx, cfg, api.NewHTTPServer(cfg.Listen, h), ln, logger, ready,
		[]any{"credlogd serving, sharing a PostgreSQL database", "origin", cfg.Origin, "addr", ln.Addr().String(),
			"advertise", advertise, "vkey", signer.VerifierKey()},
		func(gctx, seqCtx context.Context) error {
			err := lead(gctx, seqCtx, cfg, signer, store, reg, h, advertise, logger)
			logger.Info("credlogd stopped")
			return err
		})
}

// checkLogKey refuses a log key that did not sign the database's latest
// checkpoint: an instance given a key of its own (say, generated in an
// empty data directory) must never sign for the shared log.
func checkLogKey(ctx context.Context, store *postgres.Storage, signer *keys.Signer) error {
	_, cp, err := store.LatestCheckpoint(ctx)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	v, err := note.NewVerifier(signer.VerifierKey())
	if err != nil {
		return err
	}
	if _, err := note.Open(cp, note.VerifierList(v)); err != nil {
		return fmt.Errorf("the database's latest checkpoint is not signed by the log key %s (%w): every instance sharing a database needs the same log key", signer.VerifierKey(), err)
	}
	return nil
}

// lead waits for the sequencer lease until ctx is done, then sequences
// until seqCtx is done or the lease is lost.
func lead(ctx, seqCtx context.Context, cfg *Config, signer *keys.Signer, store *postgres.Storage, reg *prometheus.Registry,
	h *sharedHandler, advertise string, logger *slog.Logger) error {
	var lease *postgres.Leader
	for {
		var err error
		lease, err = store.AcquireLeader(ctx, advertise, leaseCheckEvery)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			break
		}
		// The database restarted or the connection broke while waiting:
		// wait again.
		logger.Warn("couldn't wait for the sequencer lease; retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
	defer lease.Release()
	logger.Info("acquired the sequencer lease", "epoch", lease.Epoch())
	// The sequencer starts from what is committed now: the tree, the
	// state and the pending map updates, whoever wrote them.
	l, err := newSequencer(ctx, cfg, signer, store, reg, logger)
	if err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(seqCtx)
	defer stop()
	var lost atomic.Bool
	go func() {
		select {
		case <-lease.Lost():
			lost.Store(true)
			logger.Warn("lost the sequencer lease: stopping sequencing")
			stop()
		case <-runCtx.Done():
		}
	}()
	// The sequencing server counts its requests into the read server's
	// series.
	h.leader.Store(api.NewServer(api.Config{Log: l, Storage: store, Logger: logger, Registry: reg,
		MaxBatchBody: cfg.MaxBatchBody, HealthMaxLag: cfg.HealthMaxLag.Duration, ReadCache: cfg.ReadCache}))
	defer h.leader.Store(nil)
	go func() {
		if err := registerIssuers(runCtx, l, signer, cfg.Issuers, logger); err != nil && runCtx.Err() == nil {
			logger.Warn("couldn't register issuers", "err", err)
		}
	}()
	err = l.Run(runCtx)
	if lost.Load() {
		return errLeaseLost
	}
	return err
}

// sharedHandler serves an instance sharing a database: reads from the
// database, submissions by the sequencer when this instance holds the
// lease, or else by forwarding them to the instance that does.
type sharedHandler struct {
	read   *api.Server
	leader atomic.Pointer[api.Server]
	store  *postgres.Storage
	self   string
	logger *slog.Logger
	client *http.Client
}

// ServeHTTP implements http.Handler.
func (h *sharedHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	submit := r.Method == http.MethodPost && (r.URL.Path == "/events" || r.URL.Path == "/events/batch")
	switch {
	case submit || r.URL.Path == "/healthz":
		if l := h.leader.Load(); l != nil {
			l.ServeHTTP(w, r)
		} else if submit {
			h.forward(w, r)
		} else {
			h.standbyHealth(w, r)
		}
	default:
		h.read.ServeHTTP(w, r)
	}
}

// standbyHealth is /healthz of an instance that does not sequence: it
// serves reads as long as the database answers.
func (h *sharedHandler) standbyHealth(w http.ResponseWriter, r *http.Request) {
	if _, err := h.store.Tree(r.Context()); err != nil {
		http.Error(w, "storage unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok (standby)\n"))
}

// unavailable answers 503 with Retry-After: the client retries once a
// sequencer is up.
func unavailable(w http.ResponseWriter, msg string) {
	w.Header().Set("Retry-After", "1")
	http.Error(w, msg, http.StatusServiceUnavailable)
}

// forward sends a submission to the instance holding the lease and
// relays its answer, acknowledgement or error, as it is.
func (h *sharedHandler) forward(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get(forwardedHeader) != "" {
		unavailable(w, "not sequencing: the sequencer lease is changing hands")
		return
	}
	target, held, err := h.store.LeaderURL(r.Context())
	if err != nil || !held || target == "" || target == h.self {
		unavailable(w, "no instance is sequencing at the moment")
		return
	}
	u, err := url.Parse(target)
	if err != nil {
		h.logger.Warn("the sequencing instance advertises a bad URL", "url", target, "err", err)
		unavailable(w, "no instance is sequencing at the moment")
		return
	}
	p := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.URL.Path = strings.TrimSuffix(u.Path, "/") + r.URL.Path
			pr.Out.Header.Set(forwardedHeader, "1")
			pr.SetXForwarded()
		},
		Transport: h.client.Transport,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			h.logger.Warn("couldn't forward a submission to the sequencing instance", "url", target, "err", err)
			unavailable(w, "the sequencing instance is unreachable")
		},
	}
	p.ServeHTTP(w, r)
}
