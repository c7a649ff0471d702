package logd

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/credlog/credlog/log/keys"
	"github.com/credlog/credlog/log/witnessclient"
	"github.com/credlog/credlog/log/witnessclient/policy"
)

// newWitnessClient reads the witness policy and returns the client that
// gets each checkpoint cosigned before it is published, with proofs built
// from the log's stored tiles.
func newWitnessClient(cfg *Config, signer *keys.Signer, tiles witnessclient.TileReader, reg prometheus.Registerer, logger *slog.Logger) (*witnessclient.Client, error) {
	data, err := os.ReadFile(cfg.WitnessPolicy)
	if err != nil {
		return nil, fmt.Errorf("couldn't read the witness policy: %w", err)
	}
	p, err := policy.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("witness policy %s: %w", cfg.WitnessPolicy, err)
	}
	c, err := witnessclient.New(witnessclient.Config{
		Policy: p, LogKey: signer.VerifierKey(), Proofs: witnessclient.TileProofs(tiles),
		Timeout: cfg.WitnessTimeout.Duration, FailOpen: cfg.WitnessFailOpen,
		Logger: logger, Metrics: witnessclient.NewMetrics(reg),
	})
	if err != nil {
		return nil, fmt.Errorf("witness policy %s: %w", cfg.WitnessPolicy, err)
	}
	logger.Info("checkpoints are published once witnessed", "policy", cfg.WitnessPolicy, "quorum", p.Quorum,
		"witnesses", len(c.Sizes()))
	if cfg.WitnessFailOpen {
		logger.Warn("witness_fail_open is set: checkpoints are published without the witness quorum when witnesses fail")
	}
	return c, nil
}
