package fsck

import (
	"bytes"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// checkCheckpoints checks every stored checkpoint's signature and root,
// and its consistency with the one before.
func (c *checker) checkCheckpoints() error {
	c.progress("checkpoints", 0, 0)
	var prevSize uint64
	var prevRoot []byte
	err := c.s.Checkpoints(c.ctx, func(size uint64, signed []byte) error {
		cp, _, _, err := log.ParseCheckpoint(signed, c.origin, c.verifier)
		if err != nil {
			return inconsistent("checkpoint %d: %v", size, err)
		}
		if cp.Size != size {
			return inconsistent("checkpoint %d: its text says size %d", size, cp.Size)
		}
		if size > c.tree.Size {
			return inconsistent("checkpoint %d: beyond the tree of %d entries", size, c.tree.Size)
		}
		root, err := c.rootAt(size)
		if err != nil {
			return err
		}
		if !bytes.Equal(cp.Hash, root) {
			return inconsistent("checkpoint %d: root %x, but the tree of %d entries has root %x", size, cp.Hash, size, root)
		}
		if prevRoot != nil {
			if err := c.checkConsistency(prevSize, size, prevRoot, cp.Hash); err != nil {
				return err
			}
		}
		prevSize, prevRoot = size, cp.Hash
		c.rep.Checkpoints++
		if c.rep.Checkpoints%progressEvery == 0 {
			c.progress("checkpoints", c.rep.Checkpoints, 0)
		}
		return nil
	})
	return err
}

func (c *checker) checkConsistency(size1, size2 uint64, root1, root2 []byte) error {
	p, err := c.consistencyProof(size1, size2)
	if err != nil {
		return err
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, size1, size2, p, root1, root2); err != nil {
		return inconsistent("checkpoint %d: not consistent with checkpoint %d: %v", size2, size1, err)
	}
	return nil
}
