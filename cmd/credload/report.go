package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// report is a run's result, printable as text or JSON.
type report interface {
	text(w io.Writer)
}

// printReport prints r as indented JSON or as text.
func printReport(w io.Writer, r report, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	r.text(w)
	return nil
}

func (r *writeReport) text(w io.Writer) {
	loop := "closed loop"
	if r.Loop == "open" {
		loop = fmt.Sprintf("open loop at %.0f events/s", r.Rate)
	}
	wait := ""
	if r.Wait {
		wait = ", ?wait=checkpoint"
	}
	fmt.Fprintf(w, "write: %d events, batch %d, concurrency %d, %s%s\n", r.Events, r.Batch, r.Concurrency, loop, wait)
	fmt.Fprintf(w, "  signing (not timed):  %.2fs\n", r.SigningSeconds)
	fmt.Fprintf(w, "  wall time:            %.2fs, %d requests\n", r.WallSeconds, r.SubmitLatency.Count)
	fmt.Fprintf(w, "  acknowledged:         %d (duplicates %d, unpublished %d)\n", r.Acknowledged, r.Duplicates, r.Unpublished)
	fmt.Fprintf(w, "  throughput:           %.0f events/s, %.1f requests/s\n", r.EventsPerSecond, r.RequestsPerSecond)
	fmt.Fprintf(w, "  submit latency:       %s\n", r.SubmitLatency)
	if r.CheckpointLatency != nil {
		fmt.Fprintf(w, "  submit → checkpoint:  %s", r.CheckpointLatency)
		if r.Uncovered > 0 {
			fmt.Fprintf(w, ", %d events never seen covered", r.Uncovered)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "  errors (events):      %s\n", errorText(r.Errors))
	fmt.Fprintf(w, "  log size:             %d → %d\n", r.SizeBefore, r.SizeAfter)
	fmt.Fprintf(w, "  server:               %s\n", r.Server)
	fmt.Fprintf(w, "  machine:              %s\n", r.Machine)
}

func (r *readReport) text(w io.Writer) {
	gzip := ""
	if r.Gzip {
		gzip = ", gzip"
	}
	fmt.Fprintf(w, "read %s: concurrency %d%s, checkpoint size %d\n", r.Mode, r.Concurrency, gzip, r.Size)
	fmt.Fprintf(w, "  measured:    %.2fs, %d requests, %d ok\n", r.Seconds, r.Requests, r.OK)
	fmt.Fprintf(w, "  throughput:  %.0f req/s\n", r.RequestsPerSecond)
	fmt.Fprintf(w, "  latency:     %s\n", r.Latency)
	fmt.Fprintf(w, "  errors:      %s\n", errorText(r.Errors))
	fmt.Fprintf(w, "  server:      %s\n", r.Server)
	fmt.Fprintf(w, "  machine:     %s\n", r.Machine)
}

func (l latency) String() string {
	if l.Count == 0 {
		return "none"
	}
	return fmt.Sprintf("p50 %.1fms  p99 %.1fms  max %.1fms  (%d)", l.P50, l.P99, l.Max, l.Count)
}

func (u serverUse) String() string {
	if u.Samples == 0 {
		return "unknown (no process metrics in /metrics)"
	}
	return fmt.Sprintf("RSS start %s, end %s, max %s; CPU %.1fs (%d samples)", mib(u.RSSStart), mib(u.RSSEnd), mib(u.RSSMax), u.CPUSeconds, u.Samples)
}

func (m machine) String() string {
	return fmt.Sprintf("%d CPUs, load average %q at start, %q at end; credload CPU %.1fs", m.CPUs, m.LoadAvgStart, m.LoadAvgEnd, m.ClientCPUSeconds)
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// errorText lists errors by status, in order.
func errorText(errs map[string]int) string {
	if len(errs) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(errs)) {
		parts = append(parts, fmt.Sprintf("%s: %d", k, errs[k]))
	}
	return strings.Join(parts, ", ")
}
