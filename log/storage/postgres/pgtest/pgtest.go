// Package pgtest gives tests a real, fresh PostgreSQL database.
//
// [DSN] creates an empty database for each caller and drops it when the
// test ends. The server is either the one named by the environment
// variable CREDLOG_PG_DSN (an administrator's connection string: the CI
// script starts one), or a throwaway server that pgtest starts once per
// test process from the PostgreSQL binaries it finds on PATH or in
// /usr/lib/postgresql/*/bin, with its data and its unix socket in a
// temporary directory and no TCP listener. PostgreSQL refuses to run as
// root, so a test process running as root starts it as the user
// "postgres". Without binaries the test is skipped, or fails when
// CREDLOG_REQUIRE_PG=1.
//
// A test package that uses DSN should call [Main] from its TestMain, so
// that the server stops as soon as the tests end; if it does not, the
// server still stops when the test process exits (it gets SIGQUIT when
// its parent dies).
//
// This is hand-written: no Go library at hand starts a throwaway
// PostgreSQL server from the system's binaries without downloading one.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Environment variables that configure pgtest.
const (
	// EnvDSN names a running server's administrator connection string;
	// when set, pgtest creates its databases there instead of starting a
	// server.
	EnvDSN = "CREDLOG_PG_DSN"
	// EnvRequire, set to 1, makes a missing PostgreSQL a test failure
	// instead of a skip.
	EnvRequire = "CREDLOG_REQUIRE_PG"
)

var (
	mu      sync.Mutex
	started bool
	srv     *server
	admin   string // the administrator's connection string
	errSkip error  // why PostgreSQL is unavailable
	errFail error  // why the server could not start
)

// DSN returns the connection string (a postgres:// URL) of a new, empty
// database, dropped at the end of the test.
func DSN(t testing.TB) string {
	t.Helper()
	adminDSN := adminDSN(t)
	name := "credlog_test_" + randomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminDSN)
	if err != nil {
		t.Fatalf("pgtest: couldn't connect to the PostgreSQL server: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: couldn't create a database: %v", err)
	}
	t.Cleanup(func() { dropDatabase(t, adminDSN, name) })
	dsn, err := withDatabase(adminDSN, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return dsn
}

// adminDSN returns the administrator's connection string of the server,
// starting one the first time, or skips or fails the test.
func adminDSN(t testing.TB) string {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if !started {
		started = true
		if dsn := os.Getenv(EnvDSN); dsn != "" {
			admin = dsn
		} else {
			srv, errSkip, errFail = startServer()
			if srv != nil {
				admin = srv.dsn
			}
		}
	}
	switch {
	case errFail != nil:
		t.Fatalf("pgtest: %v", errFail)
	case errSkip != nil && os.Getenv(EnvRequire) == "1":
		t.Fatalf("pgtest: %v, and %s=1", errSkip, EnvRequire)
	case errSkip != nil:
		t.Skipf("pgtest: %v (set %s to a server's DSN, or install PostgreSQL)", errSkip, EnvDSN)
	}
	return admin
}

// Main runs the tests and then stops the server pgtest started, if any.
// Call it from TestMain: os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	mu.Lock()
	defer mu.Unlock()
	if srv != nil {
		srv.stop()
		srv = nil
	}
	return code
}

func dropDatabase(t testing.TB, adminDSN, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminDSN)
	if err != nil {
		t.Errorf("pgtest: couldn't connect to drop database %s: %v", name, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		t.Errorf("pgtest: couldn't drop database %s: %v", name, err)
	}
}

// withDatabase returns dsn naming database name instead of its own.
func withDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("couldn't parse %s: %w", EnvDSN, err)
		}
		u.Path = "/" + name
		q := u.Query()
		q.Del("dbname")
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	// A key=value string: a later key overrides an earlier one.
	return dsn + " dbname=" + name, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// server is a throwaway PostgreSQL server.
type server struct {
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
	dsn  string
}

// findBinaries returns the directory holding initdb and postgres: the
// one on PATH, else the newest /usr/lib/postgresql/*/bin.
func findBinaries() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if _, err := exec.LookPath("postgres"); err == nil {
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("no PostgreSQL binaries (initdb, postgres) on PATH or in /usr/lib/postgresql/*/bin")
}

func version(bin string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(bin)))
	return v
}

// startServer starts a server in a new temporary directory. It returns
// errSkip when PostgreSQL is not installed, errFail when it is but does
// not start.
func startServer() (s *server, errSkip, errFail error) {
	bin, err := findBinaries()
	if err != nil {
		return nil, err, nil
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, nil, fmt.Errorf("running as root, and PostgreSQL refuses to: no user \"postgres\" to run it as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	dir, err := os.MkdirTemp("", "credlog-pgtest-")
	if err != nil {
		return nil, nil, err
	}
	s = &server{dir: dir, done: make(chan struct{})}
	if err := s.start(bin, cred); err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return s, nil, nil
}

func (s *server) start(bin string, cred *syscall.Credential) error {
	data, sock := filepath.Join(s.dir, "data"), filepath.Join(s.dir, "sock")
	if err := os.Mkdir(sock, 0o700); err != nil {
		return err
	}
	if cred != nil {
		for _, p := range []string{s.dir, sock} {
			if err := os.Chown(p, int(cred.Uid), int(cred.Gid)); err != nil {
				return err
			}
		}
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions")
	initdb.Dir = s.dir
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb failed: %v\n%s", err, out)
	}
	logFile, err := os.Create(filepath.Join(s.dir, "postgres.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	s.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-k", sock,
		"-c", "listen_addresses=", "-c", "shared_buffers=32MB", "-c", "max_connections=200")
	s.cmd.Dir = s.dir
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	// The server dies with the test process: SIGQUIT is PostgreSQL's
	// immediate shutdown.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
	started := make(chan error)
	go func() {
		// Linux sends the parent-death signal when the thread that
		// started the child exits, not the process: keep this thread
		// until the server is gone.
		runtime.LockOSThread()
		err := s.cmd.Start()
		started <- err
		if err == nil {
			s.cmd.Wait()
			close(s.done)
		}
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("couldn't start postgres: %w", err)
	}
	s.dsn = (&url.URL{Scheme: "postgres", User: url.User("postgres"), Path: "/postgres",
		RawQuery: url.Values{"host": {sock}, "sslmode": {"disable"}}.Encode()}).String()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		conn, err := pgx.Connect(ctx, s.dsn)
		if err == nil {
			conn.Close(ctx)
			cancel()
			return nil
		}
		cancel()
		select {
		case <-s.done:
			log, _ := os.ReadFile(logFile.Name())
			return fmt.Errorf("postgres exited at start:\n%s", log)
		default:
		}
		if time.Now().After(deadline) {
			s.stop()
			return fmt.Errorf("postgres did not accept connections within a minute: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop stops the server (fast shutdown) and removes its directory.
func (s *server) stop() {
	s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
	os.RemoveAll(s.dir)
}
