// Package api is credlog's HTTP interface: the C2SP tlog-tiles read path,
// event submission, lookups and proofs for thin clients, health and
// metrics, and a Go client for all of it.
//
// Handlers only move bytes: they parse the request, call the log
// (package sequencer and storage), and map errors to status codes in one
// place ([statusOf]). Routes (see docs/API.md):
//
//	GET  /checkpoint                       latest published checkpoint (not cached)
//	GET  /checkpoints/{size}               any published checkpoint, by size
//	GET  /tile/{L}/{N}[.p/{W}]             hash tiles (immutable)
//	GET  /tile/entries/{N}[.p/{W}]         entry bundles (immutable)
//	POST /events                           submit one event (raw bytes)
//	POST /events/batch                     submit events (uint16 length-prefixed)
//	GET  /lookup/credential/{hex}          events naming a credential ID, with proofs
//	GET  /lookup/subject/{hex}             events naming a subject label, with proofs
//	GET  /proof/inclusion?index=I&size=N   server-built inclusion proof
//	GET  /proof/consistency?old=M&size=N   server-built consistency proof
//	GET  /healthz, /metrics
package api
