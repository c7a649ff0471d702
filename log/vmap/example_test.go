package vmap_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/state"
	"github.com/credlog/credlog/log/vmap"
)

// A log records a batch's state changes in the map; a relying party
// checks a credential's status with the proof it is given.
func ExampleVerifyCredentialStatus() {
	ctx := context.Background()
	id := entry.Hash(sha256.Sum256([]byte("certificate DER")))
	label := entry.Hash{0x42}
	changes := &state.Changes{
		Credentials: []*state.Credential{{Issuer: "id.example.gov", ID: id, Subject: label, Version: 1,
			Status: state.StatusActive, IssueIndex: 7, LastIndex: 7}},
		Subjects: []*state.Subject{{Issuer: "id.example.gov", Label: label, Version: 1, Live: id,
			Events: 1, Digest: state.SubjectDigest(entry.Hash{}, 7)}},
	}

	// The log's side.
	store := vmap.NewMemoryStore()
	tree := vmap.NewTree(store)
	ups, err := vmap.UpdatesFromChanges(changes)
	if err != nil {
		panic(err)
	}
	diff, err := tree.Update(ctx, ups)
	if err != nil {
		panic(err)
	}
	if err := store.WriteNodes(ctx, diff.Writes); err != nil {
		panic(err)
	}
	proof, value, err := tree.Prove(ctx, vmap.CredentialKey("id.example.gov", id))
	if err != nil {
		panic(err)
	}
	encoded, err := proof.Marshal()
	if err != nil {
		panic(err)
	}

	// The relying party's side: the root comes from a map-root entry.
	v, err := vmap.VerifyCredentialStatus(diff.Root, "id.example.gov", id, state.StatusActive, value, encoded)
	if err != nil {
		fmt.Println("rejected:", err)
		return
	}
	fmt.Println(v.Status, "since index", v.IssueIndex, "with a proof of", len(encoded), "bytes")
	_, err = vmap.VerifyCredentialStatus(diff.Root, "id.example.gov", id, state.StatusRevoked, value, encoded)
	fmt.Println("claim of revocation rejected:", errors.Is(err, vmap.ErrInvalidProof))
	// Output:
	// active since index 7 with a proof of 67 bytes
	// claim of revocation rejected: true
}
