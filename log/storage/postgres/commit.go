package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/state"
	"github.com/credlog/credlog/log/storage"
)

// Commit implements storage.Storage: one transaction per batch, which
// locks the tree row first, and sends its inserts as a few array-valued
// statements (unnest) in one pipelined round trip.
func (s *Storage) Commit(ctx context.Context, b *storage.Batch) error {
	if s.readOnly {
		return errReadOnly
	}
	if err := b.Check(); err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := s.checkFence(ctx, tx); err != nil {
			return err
		}
		var size int64
		if err := tx.QueryRow(ctx, "SELECT size FROM tree WHERE id = 0 FOR UPDATE").Scan(&size); err != nil {
			return fmt.Errorf("couldn't read tree size: %w", err)
		}
		if uint64(size) != b.Start {
			return &storage.ConflictError{Stored: uint64(size), Start: b.Start}
		}
		if b.Map != nil {
			if err := checkMapBase(ctx, tx, b); err != nil {
				return err
			}
		}
		var q queue
		queueEntries(&q, b.Entries)
		queueTree(&q, b)
		if b.State != nil {
			queueState(&q, b.State)
		}
		if b.Map != nil {
			if err := queueMap(&q, b.Map.Writes); err != nil {
				return err
			}
			q.add("map root", "INSERT INTO map_root (id, idx, root) VALUES (0, $1, $2) ON CONFLICT (id) DO UPDATE SET idx = excluded.idx, root = excluded.root",
				int64(b.MapIndex), b.Map.Root[:])
		}
		q.add("tree state", "UPDATE tree SET size = $1, root = $2, edge = $3 WHERE id = 0",
			int64(b.Tree.Size), b.Tree.Root[:], bytes.Join(b.Tree.Edge, nil))
		return q.send(ctx, tx)
	})
}

// queue is a pgx.Batch whose statements are named for error messages.
type queue struct {
	b    pgx.Batch
	what []string
}

func (q *queue) add(what, sql string, args ...any) {
	q.b.Queue(sql, args...)
	q.what = append(q.what, what)
}

// send runs the queued statements in one round trip and returns the first
// error, naming the statement.
func (q *queue) send(ctx context.Context, tx pgx.Tx) error {
	br := tx.SendBatch(ctx, &q.b)
	var err error
	for _, what := range q.what {
		if _, e := br.Exec(); e != nil && err == nil {
			err = fmt.Errorf("couldn't write %s: %w", what, e)
		}
	}
	return errors.Join(err, br.Close())
}

func queueEntries(q *queue, entries []storage.Entry) {
	var zero entry.Hash
	var leaves, creds, subjects [][]byte
	var idx, credIdx, subIdx []int64
	for _, e := range entries {
		leaves = append(leaves, e.LeafHash[:])
		idx = append(idx, int64(e.Index))
		if e.Credential != zero {
			creds = append(creds, e.Credential[:])
			credIdx = append(credIdx, int64(e.Index))
		}
		if e.Subject != zero {
			subjects = append(subjects, e.Subject[:])
			subIdx = append(subIdx, int64(e.Index))
		}
	}
	if len(leaves) > 0 {
		q.add("leaf-hash index", "INSERT INTO leaves (hash, idx) SELECT * FROM unnest($1::bytea[], $2::bigint[])", leaves, idx)
	}
	if len(creds) > 0 {
		q.add("credential index", "INSERT INTO by_credential (credential, idx) SELECT * FROM unnest($1::bytea[], $2::bigint[])", creds, credIdx)
	}
	if len(subjects) > 0 {
		q.add("subject index", "INSERT INTO by_subject (subject, idx) SELECT * FROM unnest($1::bytea[], $2::bigint[])", subjects, subIdx)
	}
}

// queueTree queues the batch's tiles and bundles. A batch names each
// tile and bundle once; should one repeat, the last content wins, as in
// a sequence of replacements.
func queueTree(q *queue, b *storage.Batch) {
	tiles := map[[2]uint64][]byte{}
	for _, t := range b.Tiles {
		tiles[[2]uint64{t.Level, t.Index}] = t.Data
	}
	if len(tiles) > 0 {
		var lv, ix []int64
		var data [][]byte
		for k, d := range tiles {
			lv, ix, data = append(lv, int64(k[0])), append(ix, int64(k[1])), append(data, d)
		}
		q.add("tiles", `INSERT INTO tiles (level, idx, data) SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bytea[])
			ON CONFLICT (level, idx) DO UPDATE SET data = excluded.data`, lv, ix, data)
	}
	bundles := map[uint64][]byte{}
	for _, bu := range b.Bundles {
		bundles[bu.Index] = bu.Data
	}
	if len(bundles) > 0 {
		var ix []int64
		var data [][]byte
		for k, d := range bundles {
			ix, data = append(ix, int64(k)), append(data, d)
		}
		q.add("entry bundles", `INSERT INTO bundles (idx, data) SELECT * FROM unnest($1::bigint[], $2::bytea[])
			ON CONFLICT (idx) DO UPDATE SET data = excluded.data`, ix, data)
	}
}

// queueState queues the state records: upserts, the last record of a key
// winning when a batch names it twice.
func queueState(q *queue, ch *state.Changes) {
	issuers := map[string]*state.Issuer{}
	for _, i := range ch.Issuers {
		issuers[i.Name] = i
	}
	if len(issuers) > 0 {
		var name []string
		var keyID []int64
		var pub, vrf [][]byte
		for _, i := range issuers {
			name, keyID = append(name, i.Name), append(keyID, int64(i.KeyID))
			pub, vrf = append(pub, i.PublicKey[:]), append(vrf, i.VRFKey[:])
		}
		q.add("issuers", `INSERT INTO issuers (name, key_id, public_key, vrf_key)
			SELECT * FROM unnest($1::text[], $2::bigint[], $3::bytea[], $4::bytea[])
			ON CONFLICT (name) DO UPDATE SET key_id = excluded.key_id, public_key = excluded.public_key, vrf_key = excluded.vrf_key`,
			name, keyID, pub, vrf)
	}
	creds := map[storage.RecordKey]*state.Credential{}
	for _, c := range ch.Credentials {
		creds[storage.RecordKey{Issuer: c.Issuer, ID: c.ID}] = c
	}
	if len(creds) > 0 {
		var issuer []string
		var id, subject [][]byte
		var version, notAfter, issueIdx, lastIdx []int64
		var status, reason []int32
		for _, c := range creds {
			issuer, id, subject = append(issuer, c.Issuer), append(id, c.ID[:]), append(subject, c.Subject[:])
			version, notAfter = append(version, int64(c.Version)), append(notAfter, int64(c.NotAfter))
			status, reason = append(status, int32(c.Status)), append(reason, int32(c.Reason))
			issueIdx, lastIdx = append(issueIdx, int64(c.IssueIndex)), append(lastIdx, int64(c.LastIndex))
		}
		q.add("credentials", `INSERT INTO credentials
			(issuer, id, subject, version, not_after, status, reason, issue_index, last_index)
			SELECT * FROM unnest($1::text[], $2::bytea[], $3::bytea[], $4::bigint[], $5::bigint[], $6::integer[], $7::integer[], $8::bigint[], $9::bigint[])
			ON CONFLICT (issuer, id) DO UPDATE SET subject = excluded.subject, version = excluded.version,
				not_after = excluded.not_after, status = excluded.status, reason = excluded.reason,
				issue_index = excluded.issue_index, last_index = excluded.last_index`,
			issuer, id, subject, version, notAfter, status, reason, issueIdx, lastIdx)
	}
	subjects := map[storage.RecordKey]*state.Subject{}
	for _, su := range ch.Subjects {
		subjects[storage.RecordKey{Issuer: su.Issuer, ID: su.Label}] = su
	}
	if len(subjects) > 0 {
		var issuer []string
		var label, live, digest [][]byte
		var version, events []int64
		for _, su := range subjects {
			issuer, label, live, digest = append(issuer, su.Issuer), append(label, su.Label[:]), append(live, su.Live[:]), append(digest, su.Digest[:])
			version, events = append(version, int64(su.Version)), append(events, int64(su.Events))
		}
		q.add("subjects", `INSERT INTO subjects (issuer, label, version, live, events, digest)
			SELECT * FROM unnest($1::text[], $2::bytea[], $3::bigint[], $4::bytea[], $5::bigint[], $6::bytea[])
			ON CONFLICT (issuer, label) DO UPDATE SET version = excluded.version, live = excluded.live,
				events = excluded.events, digest = excluded.digest`,
			issuer, label, version, live, events, digest)
	}
}
