// Package logd wires credlogd: configuration, keys, storage, the
// sequencer and the HTTP server.
package logd

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/storage/postgres"
	"github.com/credlog/credlog/log/vmap"
)

// Config is credlogd's configuration. The JSON file form is decoded
// strictly: an unknown key is an error. Every field has a default that
// makes `credlogd` with no configuration run a local log.
type Config struct {
	// Origin is the log's name: the first line of its checkpoints and the
	// name of its key. Default "localhost/credlog".
	Origin string `json:"origin"`
	// DataDir holds the database and the log key. Created 0700 if absent.
	// Default "credlog-data".
	DataDir string `json:"data_dir"`
	// Database is where the log is stored: "" for an SQLite database
	// file, log.db, in the data directory; or a PostgreSQL connection URL
	// (postgres:// or postgresql://), which several credlogd instances
	// may share, one of them sequencing at a time (docs/OPERATIONS.md).
	// The keys stay in the data directory either way. Default "".
	Database string `json:"database"`
	// Advertise is the URL at which the other instances sharing a
	// PostgreSQL database reach this one, to forward submissions to it
	// while it sequences. Default "http://<listen address>/"; only with
	// a PostgreSQL database.
	Advertise string `json:"advertise"`
	// KeyFile is the log's signed-note private key, generated (0600) on
	// first run. Default "<data_dir>/log.key".
	KeyFile string `json:"key_file"`
	// Listen is the HTTP address. Default "127.0.0.1:8080".
	Listen string `json:"listen"`
	// DebugListen, if set, serves net/http/pprof; it must be a loopback
	// address. Default "" (off).
	DebugListen string `json:"debug_listen"`
	// Issuers are registered in the log, by issuer-key events signed with
	// the log's key, the first time the log starts with them.
	Issuers []IssuerConfig `json:"issuers"`
	// BatchMaxEntries bounds a batch. Default 4096.
	BatchMaxEntries int `json:"batch_max_entries"`
	// BatchMaxAge bounds how long a batch waits to fill. Default "2ms".
	BatchMaxAge Duration `json:"batch_max_age"`
	// MapEpoch is how often the log appends a map-root entry when the map
	// changed. Default "5s".
	MapEpoch Duration `json:"map_epoch"`
	// MapIdle is the longest the log goes without a map-root entry when
	// nothing changes, so that status proofs stay fresh. Default "5m".
	MapIdle Duration `json:"map_idle"`
	// MapMaxPending bounds the credentials and subjects changed since the
	// latest map-root entry: past it, a map-root entry is appended before
	// map_epoch is over. The map nodes written since the latest map-root
	// entry are held in memory, so this bounds most of the server's heap
	// under load (docs/OPERATIONS.md). Default 65536.
	MapMaxPending int `json:"map_max_pending"`
	// MapCacheDepth is how many levels of the map the sequencer keeps in
	// memory, at most 24: the top 2^depth - 1 positions, some 33 bytes
	// each, and the leaves among them. Default 18.
	MapCacheDepth int `json:"map_cache_depth"`
	// SQLiteCacheMiB is the page cache of the SQLite connection that
	// commits, through which the sequencer reads, in MiB. It is outside
	// Go's heap. Default 32; only without database.
	SQLiteCacheMiB int `json:"sqlite_cache_mib"`
	// QueueSize bounds the events waiting for the sequencer; beyond it
	// submissions get 503. Default 65536.
	QueueSize int `json:"queue_size"`
	// MaxBatchBody bounds POST /events/batch bodies, in bytes. Default 8 MiB.
	MaxBatchBody int64 `json:"max_batch_body"`
	// ReadCache bounds the bytes of full tiles and entry bundles the
	// server keeps in memory for reads. Default 48 MiB.
	ReadCache int `json:"read_cache"`
	// MaxConns bounds the connections the HTTP server holds open at
	// once; a connection beyond it gets 503 with Retry-After and is
	// closed. Default 4096.
	MaxConns int `json:"max_conns"`
	// HealthMaxLag: /healthz fails when committed entries wait longer
	// than this for a published checkpoint. Default "30s".
	HealthMaxLag Duration `json:"health_max_lag"`
	// LogLevel is debug, info, warn or error. Default "info".
	LogLevel string `json:"log_level"`
	// WitnessPolicy is the path of a c2sp.org/tlog-policy file naming the
	// witnesses, their URLs and the quorum. Each checkpoint is published
	// only once the quorum's cosignatures are on it; meanwhile submissions
	// are still accepted and made durable. If the file lists logs, it must
	// list this log's key. Default "" (no witnesses: checkpoints are
	// published as soon as they are signed).
	WitnessPolicy string `json:"witness_policy"`
	// WitnessTimeout bounds each round of requests to the witnesses.
	// Default "10s"; only with witness_policy.
	WitnessTimeout Duration `json:"witness_timeout"`
	// WitnessFailOpen publishes checkpoints without the quorum, with the
	// cosignatures obtained, logging a warning. It gives up the protection
	// against split views that witnesses provide whenever they are
	// unreachable. Default false (fail-closed); only with witness_policy.
	WitnessFailOpen bool `json:"witness_fail_open"`
}

// IssuerConfig names an issuer and its first keys.
type IssuerConfig struct {
	// Name is the issuer's name, the name of its signing key.
	Name string `json:"name"`
	// Key is the issuer's signed-note verifier key ("<name>+<id>+<base64>").
	Key string `json:"key"`
	// VRFKey is the issuer's VRF public key ("VRF+<name>+<base64>").
	VRFKey string `json:"vrf_key"`
}

// Duration is a time.Duration written as a Go duration string ("50ms").
type Duration struct{ time.Duration }

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string like \"50ms\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	if v < 0 {
		return fmt.Errorf("negative duration %q", s)
	}
	d.Duration = v
	return nil
}

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// LoadConfig reads a JSON configuration file strictly.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("couldn't read config: %w", err)
	}
	return ParseConfig(data)
}

// ParseConfig decodes a JSON configuration strictly: unknown keys and
// trailing data are errors.
func ParseConfig(data []byte) (*Config, error) {
	var c Config
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("couldn't parse config: %w", err)
	}
	if dec.More() {
		return nil, errors.New("couldn't parse config: trailing data after the object")
	}
	return &c, nil
}

// SetDefaults fills in defaults and checks the configuration.
func (c *Config) SetDefaults() error {
	if c.Origin == "" {
		c.Origin = "localhost/credlog"
	}
	if err := entry.CheckName(c.Origin); err != nil {
		return fmt.Errorf("origin %q is not a valid key name: %w", c.Origin, err)
	}
	if c.DataDir == "" {
		c.DataDir = "credlog-data"
	}
	if c.KeyFile == "" {
		c.KeyFile = c.DataDir + "/log.key"
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	if c.BatchMaxEntries < 0 || c.QueueSize < 0 || c.MaxBatchBody < 0 || c.ReadCache < 0 || c.MapMaxPending < 0 || c.SQLiteCacheMiB < 0 {
		return errors.New("batch_max_entries, queue_size, max_batch_body, read_cache, map_max_pending and sqlite_cache_mib must not be negative")
	}
	if c.MapCacheDepth < 0 || c.MapCacheDepth > vmap.MaxCacheDepth {
		return fmt.Errorf("map_cache_depth must be from 0 to %d", vmap.MaxCacheDepth)
	}
	if c.SQLiteCacheMiB != 0 && c.Database != "" {
		return errors.New("sqlite_cache_mib is for SQLite: leave it out with database")
	}
	if c.MaxConns < 0 {
		return errors.New("max_conns must not be negative")
	}
	if c.MaxConns == 0 {
		c.MaxConns = 4096
	}
	if c.Database != "" && !postgres.IsDSN(c.Database) {
		return fmt.Errorf("database %q is not a postgres:// or postgresql:// URL (leave it empty for SQLite in the data directory)", c.Database)
	}
	if c.Advertise != "" && c.Database == "" {
		return errors.New("advertise needs a PostgreSQL database")
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	if c.WitnessPolicy == "" && (c.WitnessFailOpen || c.WitnessTimeout.Duration != 0) {
		return errors.New("witness_fail_open and witness_timeout need witness_policy")
	}
	seen := map[string]bool{}
	for _, i := range c.Issuers {
		if seen[i.Name] {
			return fmt.Errorf("issuer %q is configured twice", i.Name)
		}
		seen[i.Name] = true
		if i.Name == c.Origin {
			return fmt.Errorf("issuer %q has the log's own name", i.Name)
		}
	}
	return nil
}

// ReadIssuerFiles reads an issuer's public keys from PREFIX.vkey (its
// signed-note verifier key) and PREFIX.vrf.pub (its VRF public key), the
// files 'credlog issuer keygen' writes. The issuer's name is the keys'.
func ReadIssuerFiles(prefix string) (IssuerConfig, error) {
	vkey, err := os.ReadFile(prefix + ".vkey")
	if err != nil {
		return IssuerConfig{}, fmt.Errorf("couldn't read issuer key: %w", err)
	}
	vrf, err := os.ReadFile(prefix + ".vrf.pub")
	if err != nil {
		return IssuerConfig{}, fmt.Errorf("couldn't read issuer VRF key: %w", err)
	}
	name, _, _ := strings.Cut(strings.TrimSpace(string(vkey)), "+")
	return IssuerConfig{Name: name, Key: strings.TrimSpace(string(vkey)), VRFKey: strings.TrimSpace(string(vrf))}, nil
}
