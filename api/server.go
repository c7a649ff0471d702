package api

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/handlers"
	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/credlog/credlog/log/sequencer"
	"github.com/credlog/credlog/log/storage"
	"github.com/credlog/credlog/log/vmap"
)

// Limits on request bodies.
const (
	// MaxEventBody bounds POST /events: one entry.
	MaxEventBody = 64 << 10
	// DefaultMaxBatchBody bounds POST /events/batch.
	DefaultMaxBatchBody = 8 << 20
)

// Config configures the HTTP handler.
type Config struct {
	Log     *sequencer.Log
	Storage storage.Storage
	Logger  *slog.Logger
	// Registry serves /metrics; nil serves an empty registry.
	Registry *prometheus.Registry
	// MaxBatchBody bounds POST /events/batch (default 8 MiB).
	MaxBatchBody int64
	// SyncTimeout bounds how long a synchronous submission waits for its
	// checkpoint (default 30s).
	SyncTimeout time.Duration
	// HealthMaxLag is how long committed entries may wait for a published
	// checkpoint before /healthz fails (default 30s).
	HealthMaxLag time.Duration
	// ReadCache bounds the bytes of full tiles and entry bundles kept in
	// memory for reads (default DefaultReadCache); the interior nodes of
	// tiles, kept for proofs, take up to a third as much again. A log of
	// n entries has about 240·n bytes of tiles and bundles (32 bytes of
	// tile per entry, bundles of typical 210-byte entries); with room for
	// all, reads never wait on storage once warm. Go's collector may let
	// the heap grow to twice what the caches hold.
	ReadCache int
}

// Server serves the log over HTTP.
type Server struct {
	cfg    Config
	log    *sequencer.Log
	store  storage.Storage
	logger *slog.Logger
	router *mux.Router
	tiles  *tileCache
	// bundles are recently read entry bundles, at a width: the same
	// cache as tiles (their keys differ).
	bundles *lru[[]byte]
	// nodes are the interior nodes of recently used tiles, for proofs.
	nodes *lru[*subtrees]
	// published are sizes known to have a published checkpoint.
	published sizeSet
	// mapReads keeps the top levels of the map last served in memory.
	mapReads *mapReadCache
	// mapTree proves map keys: one Tree for all requests, so that its
	// reads are sized by the depth of the proofs it built before.
	mapTree *vmap.Tree
}

// NewServer returns the log's HTTP handler.
func NewServer(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.MaxBatchBody <= 0 {
		cfg.MaxBatchBody = DefaultMaxBatchBody
	}
	if cfg.SyncTimeout <= 0 {
		cfg.SyncTimeout = 30 * time.Second
	}
	if cfg.HealthMaxLag <= 0 {
		cfg.HealthMaxLag = 30 * time.Second
	}
	if cfg.ReadCache <= 0 {
		cfg.ReadCache = DefaultReadCache
	}
	s := &Server{cfg: cfg, log: cfg.Log, store: cfg.Storage, logger: cfg.Logger, router: mux.NewRouter(), tiles: newTileCache(cfg.ReadCache), nodes: newNodeCache(cfg.ReadCache / nodeCacheShare),
		mapReads: newMapReadCache(cfg.Storage)}
	s.mapTree = vmap.NewTree(s.mapReads.cache)
	s.bundles = s.tiles.lru
	r := s.router
	r.HandleFunc("/checkpoint", s.serveCheckpoint).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/checkpoints/{size:[0-9]+}", s.serveCheckpointBySize).Methods(http.MethodGet, http.MethodHead)
	tiles := handlers.CompressHandler(http.HandlerFunc(s.serveTile))
	r.PathPrefix("/tile/").Handler(tiles).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/events", s.serveSubmitOne).Methods(http.MethodPost)
	r.HandleFunc("/events/batch", s.serveSubmitBatch).Methods(http.MethodPost)
	r.HandleFunc("/lookup/credential/{hash:[0-9a-f]{64}}", s.serveLookup(lookupCredential)).Methods(http.MethodGet)
	r.HandleFunc("/lookup/subject/{hash:[0-9a-f]{64}}", s.serveLookup(lookupSubject)).Methods(http.MethodGet)
	r.HandleFunc("/map/credential/{hash:[0-9a-f]{64}}", s.serveMap(false)).Methods(http.MethodGet)
	r.HandleFunc("/map/subject/{hash:[0-9a-f]{64}}", s.serveMap(true)).Methods(http.MethodGet)
	r.HandleFunc("/proof/inclusion", s.serveInclusion).Methods(http.MethodGet)
	r.HandleFunc("/proof/consistency", s.serveConsistency).Methods(http.MethodGet)
	r.HandleFunc("/healthz", s.serveHealth).Methods(http.MethodGet)
	r.Handle("/metrics", promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{})).Methods(http.MethodGet)
	r.Use(httpMetrics(cfg.Registry))
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not found", http.StatusNotFound)
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	})
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.router.ServeHTTP(w, r) }

// NewHTTPServer returns an http.Server for h with credlog's timeouts.
func NewHTTPServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      90 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
}

func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	st := s.log.Stats()
	switch {
	case st.Published == 0 && st.Committed == 0:
		// An empty log has nothing to publish.
	case st.Published < st.Committed && time.Since(st.PublishedAt) > s.cfg.HealthMaxLag:
		http.Error(w, "no fresh checkpoint: committed "+itoa(st.Committed)+", published "+itoa(st.Published), http.StatusServiceUnavailable)
		return
	}
	if _, err := s.store.Tree(r.Context()); err != nil {
		http.Error(w, "storage unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

// httpMetrics counts requests and measures their latency per route
// template (never per raw path, which would let clients grow the metric set).
func httpMetrics(reg *prometheus.Registry) mux.MiddlewareFunc {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "credlog_http_requests_total", Help: "HTTP requests by route and status code.",
	}, []string{"route", "code"})
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "credlog_http_request_seconds", Help: "HTTP request latency by route.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
	}, []string{"route"})
	requests = registered(reg, requests)
	latency = registered(reg, latency)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			route := "unknown"
			if cr := mux.CurrentRoute(r); cr != nil {
				if t, err := cr.GetPathTemplate(); err == nil {
					route = t
				}
			}
			sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
			start := time.Now()
			next.ServeHTTP(sw, r)
			latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
			requests.WithLabelValues(route, strconv.Itoa(sw.code)).Inc()
		})
	}
}

// registered registers c with reg, or returns the collector of the same
// description already registered there: several servers of one process
// (the read server and the sequencing one of an instance sharing a
// database) count into the same series.
func registered[C prometheus.Collector](reg *prometheus.Registry, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}

// statusWriter records the status code a handler writes.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}
