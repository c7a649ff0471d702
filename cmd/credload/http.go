package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxAnswer bounds the answers credload reads.
const maxAnswer = 64 << 20

// target is the log under load.
type target struct {
	base string // without a trailing slash
	hc   *http.Client
}

// newTarget returns a target whose transport keeps an idle connection
// for each of conns concurrent requests, so that a run measures the
// server and not connection setup. Responses are not compressed unless
// gzip is set: tiles are hashes, which do not compress.
func newTarget(url string, conns int, gzip bool) *target {
	t := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  !gzip,
		WriteBufferSize:     64 << 10,
		ReadBufferSize:      64 << 10,
	}
	return &target{base: strings.TrimSuffix(url, "/"), hc: &http.Client{Transport: t, Timeout: 2 * time.Minute}}
}

// close closes the target's idle connections.
func (t *target) close() { t.hc.CloseIdleConnections() }

// do sends a request for path (with its query) and reads the answer into
// buf, which it resets. body, if not nil, is POSTed.
func (t *target) do(ctx context.Context, path string, body []byte, buf *bytes.Buffer) (int, error) {
	method, rd := http.MethodGet, io.Reader(nil)
	if body != nil {
		method, rd = http.MethodPost, bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, t.base+path, rd)
	if err != nil {
		return 0, fmt.Errorf("couldn't make request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	resp, err := t.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	buf.Reset()
	if _, err := buf.ReadFrom(io.LimitReader(resp.Body, maxAnswer)); err != nil {
		return resp.StatusCode, fmt.Errorf("couldn't read the answer: %w", err)
	}
	return resp.StatusCode, nil
}

// checkpointSize returns the size of the latest published checkpoint, or
// 0 when none was published. The checkpoint is not verified: credload
// measures the log, it does not audit it.
func (t *target) checkpointSize(ctx context.Context, buf *bytes.Buffer) (uint64, error) {
	status, err := t.do(ctx, "/checkpoint", nil, buf)
	switch {
	case err != nil:
		return 0, fmt.Errorf("couldn't fetch the checkpoint: %w", err)
	case status == http.StatusNotFound:
		return 0, nil
	case status != http.StatusOK:
		return 0, fmt.Errorf("couldn't fetch the checkpoint: log answered %d", status)
	}
	lines := strings.SplitN(buf.String(), "\n", 3)
	if len(lines) < 3 {
		return 0, fmt.Errorf("malformed checkpoint %q", buf.String())
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("malformed checkpoint size %q", lines[1])
	}
	return size, nil
}

// The Prometheus process collector's resident set size and CPU time.
const (
	rssMetric = "process_resident_memory_bytes"
	cpuMetric = "process_cpu_seconds_total"
)

// process is a sample of the server process's resource use.
type process struct {
	rss int64   // bytes
	cpu float64 // seconds since the process started
}

// serverProcess returns the server's resident set size and CPU time, from
// its /metrics.
func (t *target) serverProcess(ctx context.Context, buf *bytes.Buffer) (process, error) {
	status, err := t.do(ctx, "/metrics", nil, buf)
	if err != nil {
		return process{}, fmt.Errorf("couldn't fetch metrics: %w", err)
	}
	if status != http.StatusOK {
		return process{}, fmt.Errorf("couldn't fetch metrics: log answered %d", status)
	}
	var p process
	found := 0
	sc := bufio.NewScanner(buf)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if !ok || (name != rssMetric && name != cpuMetric) {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return process{}, fmt.Errorf("malformed %s value %q", name, v)
		}
		if name == rssMetric {
			p.rss = int64(f)
		} else {
			p.cpu = f
		}
		found++
	}
	if found < 2 {
		return process{}, fmt.Errorf("the log's /metrics lacks %s or %s", rssMetric, cpuMetric)
	}
	return p, nil
}

// statusKey names a failure for the errors table: the HTTP status, or
// "transport" when no answer came.
func statusKey(status int) string {
	if status == 0 {
		return "transport"
	}
	return strconv.Itoa(status)
}
