// Command credlogd runs a credlog log: the transparency log of credential
// issuance and status events.
//
// With no flags it runs a local log on ./credlog-data, listening on
// 127.0.0.1:8080, with a log key generated on first run. See docs/API.md
// and docs/OPERATIONS.md.
//
// Usage:
//
//	credlogd [-config file.json] [-data dir] [-database url] [-advertise url] [-listen addr] [-origin name] [-issuer prefix]... [-witness-policy file] [-log-level level]
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/credlog/credlog/cmd/internal/logd"
)

func main() {
	configPath := flag.String("config", "", "JSON configuration file (unknown keys are errors)")
	dataDir := flag.String("data", "", "data directory (default credlog-data)")
	listen := flag.String("listen", "", "HTTP listen address (default 127.0.0.1:8080)")
	origin := flag.String("origin", "", "log origin, also the log key's name (default localhost/credlog)")
	database := flag.String("database", "", "PostgreSQL connection `URL` (postgres://...) to store the log in, shared with other instances\n(default: an SQLite file in the data directory)")
	advertise := flag.String("advertise", "", "`URL` at which other instances sharing the database reach this one (default http://<listen address>/)")
	logLevel := flag.String("log-level", "", "debug, info, warn or error (default info)")
	witnessPolicy := flag.String("witness-policy", "", "C2SP tlog-policy `file`: publish checkpoints only with its witness quorum (fail-closed)")
	var issuers []logd.IssuerConfig
	flag.Func("issuer", "register the issuer whose public keys are `PREFIX`.vkey and PREFIX.vrf.pub, as written by\n'credlog issuer keygen' (repeatable; adds to the config file's issuers)", func(prefix string) error {
		ic, err := logd.ReadIssuerFiles(prefix)
		if err != nil {
			return err
		}
		issuers = append(issuers, ic)
		return nil
	})
	flag.Parse()
	if flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "credlogd: unexpected arguments:", flag.Args())
		os.Exit(2)
	}
	cfg := &logd.Config{}
	if *configPath != "" {
		var err error
		if cfg, err = logd.LoadConfig(*configPath); err != nil {
			fmt.Fprintf(os.Stderr, "credlogd: %s: %v\n", *configPath, err)
			os.Exit(2)
		}
	}
	for p, v := range map[*string]string{&cfg.DataDir: *dataDir, &cfg.Listen: *listen, &cfg.Origin: *origin, &cfg.LogLevel: *logLevel, &cfg.WitnessPolicy: *witnessPolicy, &cfg.Database: *database, &cfg.Advertise: *advertise} {
		if v != "" {
			*p = v
		}
	}
	cfg.Issuers = append(cfg.Issuers, issuers...)
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); cfg.LogLevel != "" && err != nil {
		fmt.Fprintln(os.Stderr, "credlogd: bad log level:", err)
		os.Exit(2)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := logd.Run(ctx, cfg, logger, nil); err != nil {
		logger.Error("credlogd failed", "err", err)
		os.Exit(1)
	}
}
