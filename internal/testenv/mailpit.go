package testenv

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// mailpitEnv names the Mailpit binary when it is not on PATH.
const mailpitEnv = "AUTHD_MAILPIT"

// Mailpit starts a private Mailpit (an SMTP server that keeps what it
// receives and shows it over an HTTP API) on free loopback ports, stopped
// when the test ends, and returns its SMTP host:port and the base URL of its
// API (messages at apiURL + "/api/v1/messages").
//
// args are extra Mailpit flags, for example "--smtp-auth-file", path,
// "--smtp-tls-cert", cert, "--smtp-tls-key", key, "--smtp-require-tls", or
// "--chaos-triggers", "Recipient:550:100".
//
// The binary is $AUTHD_MAILPIT, or mailpit on PATH. Without it the test is
// skipped, except under CI=true, where that fails it.
func Mailpit(t testing.TB, args ...string) (smtpAddr, apiURL string) {
	t.Helper()
	bin := mailpitBinary(t)
	// Another process may take a port between our probe and Mailpit's
	// bind; a fresh pair of ports usually settles that.
	var lastLogs string
	for range 3 {
		smtp, api, logs, ok := startMailpit(t, bin, args)
		if ok {
			return smtp, api
		}
		lastLogs = logs
	}
	t.Fatalf("mailpit did not start:\n%s", lastLogs)
	return "", ""
}

func mailpitBinary(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv(mailpitEnv); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("%s=%s: %v", mailpitEnv, bin, err)
		}
		return bin
	}
	bin, err := exec.LookPath("mailpit")
	if err == nil {
		return bin
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("mailpit is not on PATH and %s is not set: .ci/run should build it, since CI must run the SMTP tests", mailpitEnv)
	}
	t.Skipf("mailpit not on PATH and %s not set", mailpitEnv)
	return ""
}

// startMailpit runs one Mailpit and waits until both its API and its SMTP
// port answer. It reports false, with Mailpit's output, when Mailpit exits
// during start-up.
func startMailpit(t testing.TB, bin string, extra []string) (smtpAddr, apiURL, logs string, ok bool) {
	t.Helper()
	smtpAddr, httpAddr := freeLoopbackAddr(t), freeLoopbackAddr(t)
	dir := t.TempDir()
	args := append([]string{
		"--smtp", smtpAddr,
		"--listen", httpAddr,
		"--database", filepath.Join(dir, "mailpit.db"),
		"--disable-version-check",
		"--smtp-disable-rdns",
	}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	// Mailpit reads MP_* variables as configuration: a developer's
	// settings must not change what the test runs against.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MP_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start mailpit: %v", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})

	apiURL = "http://" + httpAddr
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := mailpitReady(client, apiURL, smtpAddr)
		if err == nil {
			return smtpAddr, apiURL, "", true
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailpit on %s / %s not ready: %v\n%s", smtpAddr, httpAddr, err, out.String())
		}
		select {
		case <-done:
			return "", "", out.String(), false
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func mailpitReady(client *http.Client, apiURL, smtpAddr string) error {
	resp, err := client.Get(apiURL + "/readyz")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /readyz: %s", resp.Status)
	}
	c, err := net.DialTimeout("tcp", smtpAddr, time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

// freeLoopbackAddr returns 127.0.0.1:port for a port that was free a moment
// ago.
func freeLoopbackAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
}
