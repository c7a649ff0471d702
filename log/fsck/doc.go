// Package fsck checks, offline, that what a credlog log stored is what the
// log would have written: that its entries, hash tiles, tree state, lookup
// indexes, state tables, published checkpoints and verifiable map agree
// with each other.
// It is the library of `credlog fsck`.
//
// [Check] reads a log through the [storage.Storage] interface only (open
// SQLite read-only with sqlite.OpenReadOnly), and needs nothing but the
// log's public key. It checks, in this order, and returns the first
// failure as an [*Inconsistency] that names it:
//
//  1. Entries: every entry bundle up to the stored tree size holds exactly
//     the entries the size implies; the RFC 6962 leaf hash of every entry
//     is the hash at its index in the level-0 tile; every entry parses
//     (package entry) and obeys the state rules (package state) when the
//     log is replayed from index 0 into an empty state. The replay also
//     rebuilds the verifiable map (package vmap, as vmap.Rebuilder does):
//     every map-root entry commits to the root of the map over the entries
//     before it.
//  2. Tiles: every hash of a level-L tile is the root of the 256 hashes of
//     the level-(L-1) tile below it (C2SP tlog-tiles); each tile holds
//     exactly as many hashes as the tree size implies; the tile and the
//     bundle that would come next past the tree's end do not exist.
//  3. Tree: the stored root and right edge are those of the compact range
//     (transparency-dev/merkle) of the entries' leaf hashes.
//  4. Indexes: the leaf-hash, credential and subject indexes hold one row
//     per entry (per entry naming a credential, or a subject), mapping
//     exactly what the entry names to its index, and nothing else.
//  5. State: the stored issuers, credentials and subjects equal the state
//     the replay built, record for record.
//  6. Checkpoints: every stored checkpoint is signed by the log's key,
//     names the log's origin and the size it is stored under, has the root
//     of the tree at that size (recomputed from the verified tiles), and
//     is consistent with the next stored checkpoint by a consistency proof
//     built from the tiles. Not every size needs a checkpoint.
//  7. Map: the stored map root ([storage.Storage.MapRoot]) is the root of
//     the replayed map at the last map-root entry and names that entry's
//     index, or is absent if the log has none; the stored map nodes
//     ([storage.Storage.ScanMapNodes]) are exactly the replayed map's at
//     that entry: each equal to the replayed node at its position, none
//     missing, none extra.
//
// Check holds about 100 bytes per entry, the replayed state and the
// replayed map in memory, and reads every bundle and tile once or twice.
// It assumes that nothing writes the log while it runs: stop the log
// server first.
package fsck
