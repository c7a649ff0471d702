package logd

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/credlog/credlog/api"
	"github.com/credlog/credlog/cmd/internal/netlimit"
	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/keys"
	"github.com/credlog/credlog/log/sequencer"
	"github.com/credlog/credlog/log/storage"
	"github.com/credlog/credlog/log/storage/sqlite"
)

// Run runs credlogd until ctx is done, then shuts down gracefully: the
// HTTP server stops taking requests and finishes those in flight, the
// sequencer commits the batch in flight, and storage is closed. ready, if
// not nil, is called with the listening address once the log serves.
func Run(ctx context.Context, cfg *Config, logger *slog.Logger, ready func(addr string)) error {
	if err := cfg.SetDefaults(); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("couldn't create data directory: %w", err)
	}
	signer, err := loadOrCreateKey(cfg, logger)
	if err != nil {
		return err
	}
	if cfg.Database != "" {
		return runShared(ctx, cfg, signer, logger, ready)
	}
	store, err := sqlite.OpenWith(ctx, filepath.Join(cfg.DataDir, "log.db"), sqlite.Options{WriterCacheMiB: cfg.SQLiteCacheMiB})
	if err != nil {
		return err
	}
	defer store.Close()

	reg := newRegistry()
	l, err := newSequencer(ctx, cfg, signer, store, reg, logger)
	if err != nil {
		return err
	}
	ln, err := listen(cfg)
	if err != nil {
		return err
	}
	srv := api.NewHTTPServer(cfg.Listen, api.NewServer(api.Config{
		Log: l, Storage: store, Logger: logger, Registry: reg,
		MaxBatchBody: cfg.MaxBatchBody, HealthMaxLag: cfg.HealthMaxLag.Duration, ReadCache: cfg.ReadCache,
	}))
	return serve(ctx, cfg, srv, ln, logger, ready,
		[]any{"credlogd serving", "origin", cfg.Origin, "addr", ln.Addr().String(), "data", cfg.DataDir, "vkey", signer.VerifierKey()},
		func(_, seqCtx context.Context) error {
			err := l.Run(seqCtx)
			logger.Info("credlogd stopped", "size", l.Stats().Committed)
			return err
		},
		func(gctx context.Context) error {
			if err := registerIssuers(gctx, l, signer, cfg.Issuers, logger); err != nil {
				return fmt.Errorf("couldn't register issuers: %w", err)
			}
			return nil
		})
}

// newRegistry returns the Prometheus registry of the process, with the Go
// and process collectors and the build information.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), buildInfo())
	return reg
}

// newSequencer returns the sequencer of the log in store, publishing its
// checkpoints through the witnesses of the policy, if any. It starts from
// what store holds: the tree, the state and the pending map updates.
func newSequencer(ctx context.Context, cfg *Config, signer *keys.Signer, store storage.Storage, reg *prometheus.Registry, logger *slog.Logger) (*sequencer.Log, error) {
	var publish func(context.Context, uint64, []byte) ([]byte, error)
	if cfg.WitnessPolicy != "" {
		wc, err := newWitnessClient(cfg, signer, store, reg, logger)
		if err != nil {
			return nil, err
		}
		publish = wc.Publish
	}
	return sequencer.New(ctx, sequencer.Config{
		Signer: signer, Storage: store, Logger: logger, Metrics: sequencer.NewMetrics(reg),
		MaxBatch: cfg.BatchMaxEntries, MaxAge: cfg.BatchMaxAge.Duration, QueueSize: cfg.QueueSize,
		MapEpoch: cfg.MapEpoch.Duration, MapIdle: cfg.MapIdle.Duration, MapMaxPending: cfg.MapMaxPending,
		MapCacheDepth: cfg.MapCacheDepth,
		Publish:       publish,
	})
}

// listen opens the HTTP listener, bounded to cfg.MaxConns connections.
func listen(cfg *Config) (*netlimit.Listener, error) {
	tcp, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("couldn't listen: %w", err)
	}
	return netlimit.New(tcp, cfg.MaxConns), nil
}

// serve runs the HTTP server srv on ln, main and tasks until ctx is done,
// main returns or a task fails; then it shuts down gracefully: srv stops
// taking requests and finishes those in flight, and only then is main's
// second context (which outlives ctx) cancelled, so that the sequencer
// commits what was acknowledged. main's first context and the tasks' are
// done when anything fails. serving is the log line once srv serves;
// ready, if not nil, gets the listening address.
func serve(ctx context.Context, cfg *Config, srv *http.Server, ln net.Listener, logger *slog.Logger, ready func(addr string),
	serving []any, main func(gctx, seqCtx context.Context) error, tasks ...func(gctx context.Context) error) error {
	seqCtx, stopSeq := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSeq()
	g, gctx := errgroup.WithContext(ctx)
	mainDone := make(chan struct{})
	g.Go(func() error {
		defer close(mainDone)
		return main(gctx, seqCtx)
	})
	for _, task := range tasks {
		g.Go(func() error { return task(gctx) })
	}
	g.Go(func() error {
		logger.Info(serving[0].(string), serving[1:]...)
		if ready != nil {
			ready(ln.Addr().String())
		}
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	if cfg.DebugListen != "" {
		g.Go(func() error { return serveDebug(gctx, cfg.DebugListen) })
	}
	g.Go(func() error {
		select {
		case <-gctx.Done():
		case <-mainDone:
		}
		// A fresh context: the one we were given is already cancelled.
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := srv.Shutdown(sctx)
		stopSeq()
		<-mainDone
		return err
	})
	return g.Wait()
}

// loadOrCreateKey reads the log key, or generates it on first run.
func loadOrCreateKey(cfg *Config, logger *slog.Logger) (*keys.Signer, error) {
	text, err := keys.ReadPrivateFile(cfg.KeyFile)
	if errors.Is(err, fs.ErrNotExist) {
		skey, vkey, err := keys.Generate(cfg.Origin, rand.Reader)
		if err != nil {
			return nil, err
		}
		if err := keys.WritePrivateFile(cfg.KeyFile, skey); err != nil {
			return nil, err
		}
		logger.Info("generated a new log key", "file", cfg.KeyFile, "vkey", vkey)
		text = skey
	} else if err != nil {
		return nil, err
	}
	s, err := keys.ParseSigner(text)
	if err != nil {
		return nil, fmt.Errorf("couldn't parse log key %s: %w", cfg.KeyFile, err)
	}
	if s.Name() != cfg.Origin {
		return nil, fmt.Errorf("log key %s is named %q, but the origin is %q: refusing to sign for another log", cfg.KeyFile, s.Name(), cfg.Origin)
	}
	// The verifier key beside it, for auditors and fsck; written again if
	// a crash after the key was created left it missing.
	vpath := cfg.KeyFile[:len(cfg.KeyFile)-len(filepath.Ext(cfg.KeyFile))] + ".vkey"
	if err := keys.WritePublicFile(vpath, s.VerifierKey()); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	return s, nil
}

// registerIssuers appends an issuer-key event, signed by the log, for each
// configured issuer the log does not know yet.
func registerIssuers(ctx context.Context, l *sequencer.Log, signer *keys.Signer, issuers []IssuerConfig, logger *slog.Logger) error {
	for _, ic := range issuers {
		v, err := keys.ParseVerifier(ic.Key)
		if err != nil {
			return fmt.Errorf("issuer %q: %w", ic.Name, err)
		}
		vname, vrfPub, err := keys.ParseVRFPublic(ic.VRFKey)
		if err != nil {
			return fmt.Errorf("issuer %q: %w", ic.Name, err)
		}
		if v.Name != ic.Name || vname != ic.Name {
			return fmt.Errorf("issuer %q: keys are named %q and %q", ic.Name, v.Name, vname)
		}
		known, err := l.Storage().Issuer(ic.Name)
		if err != nil {
			return err
		}
		if known != nil {
			if [32]byte(vrfPub) != known.VRFKey {
				logger.Warn("configured VRF key differs from the logged one, which cannot change", "issuer", ic.Name)
			}
			continue
		}
		ev := &entry.Event{Type: entry.TypeIssuerKey, Issuer: ic.Name, Time: uint64(time.Now().Unix()), KeyID: signer.KeyID()}
		copy(ev.PublicKey[:], v.Public)
		copy(ev.VRFKey[:], vrfPub)
		if err := ev.Sign(signer.PrivateKey()); err != nil {
			return err
		}
		raw, err := ev.Marshal()
		if err != nil {
			return err
		}
		se, err := sequencer.Parse(raw)
		if err != nil {
			return err
		}
		f, err := l.Add(se)
		if err != nil {
			return err
		}
		res := f.Wait(ctx)
		if res.Err != nil {
			return fmt.Errorf("issuer %q: %w", ic.Name, res.Err)
		}
		logger.Info("registered issuer", "issuer", ic.Name, "index", res.Index, "key_id", fmt.Sprintf("%08x", v.KeyID))
	}
	return nil
}

func serveDebug(ctx context.Context, addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("debug_listen %q is not a loopback address", addr)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func buildInfo() prometheus.Collector {
	version := "devel"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		version = bi.Main.Version
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "credlog_build_info", Help: "Build information.",
		ConstLabels: prometheus.Labels{"version": version}})
	g.Set(1)
	return g
}
