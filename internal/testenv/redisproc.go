package testenv

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// RedisProc is a private redis-server the test owns: it can be stopped and
// started again on the same loopback port, to see how a client copes with
// an outage. Nothing is persisted across restarts.
type RedisProc struct {
	t    testing.TB
	bin  string
	dir  string
	port int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	logs lockedBuffer
}

// StartRedis starts a redis-server on a free loopback port and stops it
// when the test ends. Without a redis-server binary on PATH the test is
// skipped, except under CI=true, where that fails it.
func StartRedis(t testing.TB) *RedisProc {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis-server is not installed: CI must run the outage tests")
		}
		t.Skip("redis-server not on PATH")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	r := &RedisProc{t: t, bin: bin, dir: t.TempDir(), port: port}
	t.Cleanup(func() {
		r.mu.Lock()
		running := r.cmd != nil
		r.mu.Unlock()
		if running {
			r.Stop()
		}
	})
	r.Start()
	return r
}

// URL is the redis:// URL of the server (the same across restarts).
func (r *RedisProc) URL() string { return "redis://" + r.Addr() + "/0" }

// Addr is the server's host:port.
func (r *RedisProc) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port)) }

// Start runs the server on its port and waits until it answers PING.
func (r *RedisProc) Start() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		r.t.Fatal("redis-server is already running")
	}
	cmd := exec.Command(r.bin,
		"--port", strconv.Itoa(r.port),
		"--bind", "127.0.0.1",
		"--dir", r.dir,
		"--save", "",
		"--appendonly", "no",
		"--daemonize", "no",
		"--loglevel", "warning",
	)
	cmd.Stdout = &r.logs
	cmd.Stderr = &r.logs
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("start redis-server: %v", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	r.cmd, r.done = cmd, done

	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := r.ping(); err == nil {
			return
		} else if time.Now().After(deadline) {
			r.t.Fatalf("redis-server on %s not answering: %v\n%s", r.Addr(), err, r.logs.String())
		}
		select {
		case <-done:
			r.t.Fatalf("redis-server exited during start-up:\n%s", r.logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Stop kills the server, as a crash would, and waits until it is gone and
// its port refuses connections.
func (r *RedisProc) Stop() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		r.t.Fatal("redis-server is not running")
	}
	_ = r.cmd.Process.Kill()
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		r.t.Fatalf("redis-server (pid %d) did not exit", r.cmd.Process.Pid)
	}
	r.cmd, r.done = nil, nil
	if err := r.ping(); err == nil {
		r.t.Fatalf("something still answers on %s after redis-server exited", r.Addr())
	}
}

// ping sends one PING over a new connection.
func (r *RedisProc) ping() error {
	c, err := net.DialTimeout("tcp", r.Addr(), time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
