// Package netlimit bounds the number of connections a server holds open at
// once.
//
// A server with no bound keeps accepting until it runs out of file
// descriptors or memory, and then fails every client, including those it
// already serves. With [Listener], a connection accepted beyond the bound
// gets a short, complete HTTP answer, 503 Service Unavailable with
// Connection: close and Retry-After, once it sent its request head (or
// after a second of silence), and is closed: the client is told to come
// back later rather than left hanging in the accept queue.
//
// The wrapper is hand-written. golang.org/x/net/netutil.LimitListener,
// the usual choice, blocks Accept at the bound instead, which leaves the
// excess connections waiting unanswered in the kernel's backlog.
package netlimit

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// RetryAfter is the Retry-After value, in seconds, of the 503 answer.
	RetryAfter = 1

	// headWait bounds the wait for a rejected connection's request head.
	headWait = time.Second

	// maxHead bounds the bytes of request head read before answering.
	maxHead = 16 << 10

	// rejectTimeout bounds how long a rejected connection is kept, once
	// its request head is read, to write the answer and let the client
	// read it.
	rejectTimeout = 2 * time.Second

	// drainLimit bounds the bytes read from a rejected connection before
	// it is closed (so that its request is not answered with a reset).
	drainLimit = 64 << 10
)

// rejection is the complete answer to a connection beyond the bound.
var rejection = []byte("HTTP/1.1 503 Service Unavailable\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Content-Length: 21\r\n" +
	"Connection: close\r\n" +
	"Retry-After: " + strconv.Itoa(RetryAfter) + "\r\n" +
	"\r\n" +
	"too many connections\n")

// Listener is a net.Listener that holds at most a fixed number of
// connections open. Each connection it returns holds a slot until it is
// closed; a connection accepted while every slot is held is answered 503
// in the background and closed, and never returned by Accept. The
// rejections being written are bounded too (by a sixteenth of the slots,
// at least 64): beyond that, an excess connection is closed unanswered.
type Listener struct {
	net.Listener
	slots     chan struct{} // one element per open connection
	rejecting chan struct{} // one element per rejection being written
	rejected  atomic.Int64
}

// New returns a Listener that wraps ln and holds at most n connections
// open at once. n must be positive.
func New(ln net.Listener, n int) *Listener {
	if n < 1 {
		panic("netlimit: the connection limit must be positive")
	}
	return &Listener{
		Listener:  ln,
		slots:     make(chan struct{}, n),
		rejecting: make(chan struct{}, max(64, n/16)),
	}
}

// Accept waits for and returns the next connection that gets a slot.
// Connections accepted beyond the bound are rejected without returning.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &conn{Conn: c, release: l.release}, nil
		default:
			l.reject(c)
		}
	}
}

// Open returns the number of connections holding a slot.
func (l *Listener) Open() int { return len(l.slots) }

// Rejected returns the number of connections rejected so far.
func (l *Listener) Rejected() int64 { return l.rejected.Load() }

func (l *Listener) release() { <-l.slots }

// reject answers c with 503 and closes it, in the background so that a
// slow client cannot hold up Accept. When too many rejections are already
// being written, c is closed without an answer.
func (l *Listener) reject(c net.Conn) {
	l.rejected.Add(1)
	select {
	case l.rejecting <- struct{}{}:
	default:
		c.Close()
		return
	}
	go func() {
		defer func() { <-l.rejecting }()
		defer c.Close()
		// An HTTP client that gets an answer before it sent its request
		// takes it for a broken connection (Go's reports an "unsolicited
		// response"): wait for the request's head, or for headWait if the
		// client sends none, before answering.
		c.SetReadDeadline(time.Now().Add(headWait))
		readHead(c)
		c.SetDeadline(time.Now().Add(rejectTimeout))
		if _, err := c.Write(rejection); err != nil {
			return
		}
		// Closing a socket with unread data makes the kernel send a reset,
		// which can destroy the answer before the client reads it: close
		// the sending side, then read what the client sent until it closes
		// its side, up to a bound.
		if cw, ok := c.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		io.Copy(io.Discard, io.LimitReader(c, drainLimit))
	}()
}

// readHead reads from c until the end of an HTTP request head (an empty
// line), an error, or maxHead bytes.
func readHead(c net.Conn) {
	buf := make([]byte, 0, 1024)
	for len(buf) < maxHead {
		n, err := c.Read(buf[len(buf):min(cap(buf), maxHead)])
		buf = buf[:len(buf)+n]
		if bytes.Contains(buf, []byte("\r\n\r\n")) || err != nil {
			return
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
	}
}

// conn is an accepted connection holding a slot until it is closed.
type conn struct {
	net.Conn
	once    sync.Once
	release func()
}

// CloseWrite shuts down the sending side of the connection, when the
// wrapped connection can (as a TCP connection can): net/http uses it to
// close connections gracefully.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// Close closes the connection and releases its slot, once.
func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
