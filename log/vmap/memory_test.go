package vmap_test

import (
	"testing"

	"github.com/credlog/credlog/log/vmap"
	"github.com/credlog/credlog/log/vmap/vmaptest"
)

func TestMemoryStoreConformance(t *testing.T) {
	vmaptest.Run(t, func(t *testing.T) vmaptest.Store { return vmap.NewMemoryStore() })
}
