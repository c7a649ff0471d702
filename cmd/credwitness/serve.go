package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/credlog/credlog/cmd/internal/netlimit"
	"github.com/credlog/credlog/witness"
)

// serve runs the witness until ctx is done, then shuts down gracefully.
func serve(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	db := fs.String("db", "", "witness database (created if missing)")
	keyFile := fs.String("key", "", "cosigner private key file (mode 0600)")
	listen := fs.String("listen", "127.0.0.1:7380", "HTTP listen address")
	perDay := fs.Int("requests-per-day", 86400, "add-checkpoint requests allowed per log per day (0: no limit)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	var pulls []pullTarget
	fs.Func("pull", "follow the log `ORIGIN=URL` (its tlog-tiles URL) and cosign what it serves, whether or not it calls (repeatable)", func(v string) error {
		origin, raw, ok := strings.Cut(v, "=")
		u, err := url.Parse(raw)
		if !ok || origin == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			return fmt.Errorf("want ORIGIN=URL with an http or https URL, got %q", v)
		}
		pulls = append(pulls, pullTarget{origin, u})
		return nil
	})
	alertURL := fs.String("alert-url", "", "POST each new piece of equivocation evidence, as JSON, to this `URL`")
	pullEvery := fs.Duration("pull-interval", 10*time.Second, "how often to pull the logs of -pull")
	maxConns := fs.Int("max-conns", 4096, "connections held open at once; beyond it a connection gets 503 and is closed")
	if err := parseFlags(fs, args, stderr, "db", "key"); err != nil {
		return err
	}
	if *maxConns < 1 {
		return fmt.Errorf("%w: -max-conns must be positive", errUsage)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("%w: -log-level: %w", errUsage, err)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	skey, err := readKeyFile(*keyFile)
	if err != nil {
		return err
	}
	cosigner, err := witness.NewCosigner(skey)
	if err != nil {
		return fmt.Errorf("%s: %w", *keyFile, err)
	}
	store, err := witness.OpenSQLite(ctx, *db)
	if err != nil {
		return err
	}
	defer store.Close()
	for _, p := range pulls {
		if _, err := store.Log(ctx, p.origin); err != nil {
			return fmt.Errorf("-pull %s: %w (add it with credwitness add-log)", p.origin, err)
		}
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(buildInfo())
	w, err := witness.New(witness.Options{
		Store: store, Cosigner: cosigner, RequestsPerDay: *perDay, Logger: logger, Registerer: reg, AlertURL: *alertURL,
	})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/", w.Handler())
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, r *http.Request) {
		if _, err := store.Logs(r.Context()); err != nil {
			http.Error(rw, "database unavailable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(rw, "ok")
	})

	tcp, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("couldn't listen: %w", err)
	}
	ln := netlimit.New(tcp, *maxConns)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	logger.Info("credwitness listening", "addr", ln.Addr().String(), "cosigner", cosigner.VerifierKey())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	for _, p := range pulls {
		hc := &http.Client{Timeout: 30 * time.Second}
		go w.Follow(ctx, p.origin, p.url, hc, *pullEvery)
	}
	select {
	case err := <-errc:
		return fmt.Errorf("server failed: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("couldn't shut down cleanly: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("server failed: %w", err)
	}
	return nil
}

// buildInfo is the credwitness_build_info metric.
func buildInfo() prometheus.Collector {
	version, goVersion := "unknown", "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		version, goVersion = bi.Main.Version, bi.GoVersion
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "credwitness_build_info",
		Help:        "Build information; always 1.",
		ConstLabels: prometheus.Labels{"version": version, "go_version": goVersion},
	})
	g.Set(1)
	return g
}

// pullTarget is a log followed in pull mode.
type pullTarget struct {
	origin string
	url    *url.URL
}
