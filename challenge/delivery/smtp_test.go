package delivery_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/challenge"
	"github.com/authd/authd/challenge/delivery"
	"github.com/authd/authd/internal/testenv"
)

const smtpTestCode = "493817"

func smtpEnvelope() delivery.Envelope {
	return delivery.Envelope{
		ID:       "7f3a9c1e-5b2d-4e8f-a0c1-d2e3f4a5b6c7",
		Channel:  challenge.ChannelEmail,
		To:       "user@example.com",
		Template: "login_code",
		Locale:   "fr-CA",
		Subject:  "Votre code de connexion — ne le partagez pas ✓",
		Text: "Your sign-in code is " + smtpTestCode + ".\n\n" +
			"It expires in 5 minutes. Ünïcödé survives, and so does a long line: " + strings.Repeat("lorem ipsum ", 12) + "\n" +
			".a line that starts with a dot\n",
		HTML:      `<p>Your sign-in code is <b>` + smtpTestCode + `</b>.</p><p style="color: #333">Ünïcödé</p>`,
		Variables: map[string]string{"otp": smtpTestCode, "expiry": "5 minutes"},
	}
}

func newSMTP(t *testing.T, cfg delivery.SMTPConfig) *delivery.SMTP {
	t.Helper()
	p, err := delivery.NewSMTP(cfg)
	if err != nil {
		t.Fatalf("NewSMTP: %v", err)
	}
	return p
}

// smtpHostPort splits an address of testenv.Mailpit or a fake server.
func smtpHostPort(t *testing.T, addr string) (string, int) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	p, err := net.LookupPort("tcp", port)
	if err != nil {
		t.Fatal(err)
	}
	return host, p
}

func TestSMTPMailpitMessage(t *testing.T) {
	addr, api := testenv.Mailpit(t)
	host, port := smtpHostPort(t, addr)
	p := newSMTP(t, delivery.SMTPConfig{
		Host: host, Port: port, TLS: delivery.SMTPNoTLS,
		From:    "Exâmple Accounts <no-reply@example.com>",
		ReplyTo: "support@example.com",
	})
	e := smtpEnvelope()
	e.To = "Ada Lovelace <ada@example.com>"
	if err := p.Deliver(context.Background(), e); err != nil {
		t.Fatalf("Deliver: %v", err)
	}

	mp := mailpitAPI{t, api}
	id := mp.only()
	m := mp.message(id)
	if m.Subject != e.Subject {
		t.Errorf("Subject = %q, want %q", m.Subject, e.Subject)
	}
	if m.From.Address != "no-reply@example.com" || m.From.Name != "Exâmple Accounts" {
		t.Errorf("From = %+v", m.From)
	}
	if len(m.To) != 1 || m.To[0].Address != "ada@example.com" || m.To[0].Name != "Ada Lovelace" {
		t.Errorf("To = %+v", m.To)
	}
	if len(m.ReplyTo) != 1 || m.ReplyTo[0].Address != "support@example.com" {
		t.Errorf("Reply-To = %+v", m.ReplyTo)
	}
	if m.MessageID != "authd."+e.ID+"@example.com" {
		t.Errorf("Message-ID = %q", m.MessageID)
	}
	if time.Since(m.Date) > time.Minute || time.Until(m.Date) > time.Minute {
		t.Errorf("Date = %v", m.Date)
	}
	if normalize(m.Text) != normalize(e.Text) {
		t.Errorf("text part = %q, want %q", m.Text, e.Text)
	}
	if normalize(m.HTML) != normalize(e.HTML) {
		t.Errorf("HTML part = %q, want %q", m.HTML, e.HTML)
	}

	h := mp.headers(id)
	for k, want := range map[string]string{
		"Mime-Version":     "1.0",
		"Auto-Submitted":   "auto-generated",
		"Content-Language": "fr-CA",
	} {
		if got := strings.Join(h[k], ","); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	if ct := strings.Join(h["Content-Type"], ","); !strings.HasPrefix(ct, "multipart/alternative; boundary=") {
		t.Errorf("Content-Type = %q", ct)
	}

	raw := mp.raw(id)
	if !crlfOnly(raw) {
		t.Errorf("raw message has a bare LF:\n%s", raw)
	}
	for _, want := range []string{
		"\r\nSubject: =?utf-8?q?",
		"Content-Type: text/plain; charset=utf-8\r\n",
		"Content-Type: text/html; charset=utf-8\r\n",
		"Content-Transfer-Encoding: quoted-printable\r\n",
	} {
		if !bytes.Contains(raw, []byte(want)) {
			t.Errorf("raw message lacks %q:\n%s", want, raw)
		}
	}
	if bytes.Index(raw, []byte("text/plain")) > bytes.Index(raw, []byte("text/html")) {
		t.Error("the HTML part comes before the text part")
	}
	// RFC 5322 allows 998 characters a line; the quoted-printable body
	// keeps to 76.
	head, body, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	for _, line := range bytes.Split(head, []byte("\r\n")) {
		if len(line) > 998 {
			t.Errorf("header line longer than 998 characters: %q", line)
		}
	}
	for _, line := range bytes.Split(body, []byte("\r\n")) {
		if len(line) > 78 {
			t.Errorf("body line longer than 78 characters: %q", line)
		}
	}
}

func TestSMTPMailpitTextOnly(t *testing.T) {
	addr, api := testenv.Mailpit(t)
	host, port := smtpHostPort(t, addr)
	p := newSMTP(t, delivery.SMTPConfig{Host: host, Port: port, TLS: delivery.SMTPNoTLS, From: "no-reply@example.com"})
	e := smtpEnvelope()
	e.HTML = ""
	e.ID = "" // a random Message-ID then
	if err := p.Deliver(context.Background(), e); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	mp := mailpitAPI{t, api}
	id := mp.only()
	if m := mp.message(id); normalize(m.Text) != normalize(e.Text) || m.HTML != "" || !strings.HasPrefix(m.MessageID, "authd.") {
		t.Errorf("message = %+v", m)
	}
	if ct := strings.Join(mp.headers(id)["Content-Type"], ","); ct != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
}

func TestSMTPMailpitSTARTTLSWithPlainAuth(t *testing.T) {
	dir := t.TempDir()
	roots, certFile, keyFile := smtpTestCert(t, dir)
	authFile := filepath.Join(dir, "passwords")
	if err := os.WriteFile(authFile, []byte("mailer:s3cret-passw0rd\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// With a password file and no --smtp-auth-allow-insecure, Mailpit
	// requires STARTTLS before AUTH.
	addr, api := testenv.Mailpit(t, "--smtp-tls-cert", certFile, "--smtp-tls-key", keyFile, "--smtp-auth-file", authFile)
	host, port := smtpHostPort(t, addr)
	mp := mailpitAPI{t, api}
	cfg := delivery.SMTPConfig{
		Host: host, Port: port, // TLS defaults to starttls
		Username: "mailer", Password: "s3cret-passw0rd",
		From:      "no-reply@example.com",
		TLSConfig: &tls.Config{RootCAs: roots},
	}
	if err := newSMTP(t, cfg).Deliver(context.Background(), smtpEnvelope()); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	// Mailpit requires AUTH here, so the message got in authenticated.
	// (It records the username only for LOGIN, so there is no more to see.)
	mp.only()

	wrong := cfg
	wrong.Password = "guess"
	err := newSMTP(t, wrong).Deliver(context.Background(), smtpEnvelope())
	if err == nil || delivery.IsPermanent(err) {
		t.Errorf("wrong password: Deliver = %v, want a transient error (a configuration problem)", err)
	}

	untrusted := cfg
	untrusted.TLSConfig = nil
	err = newSMTP(t, untrusted).Deliver(context.Background(), smtpEnvelope())
	if err == nil || delivery.IsPermanent(err) || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusted certificate: Deliver = %v, want a transient certificate error", err)
	}

	if n := len(mp.summaries()); n != 1 {
		t.Errorf("%d messages stored, want only the first", n)
	}
}

func TestSMTPMailpitImplicitTLS(t *testing.T) {
	dir := t.TempDir()
	roots, certFile, keyFile := smtpTestCert(t, dir)
	addr, api := testenv.Mailpit(t, "--smtp-tls-cert", certFile, "--smtp-tls-key", keyFile, "--smtp-require-tls")
	host, port := smtpHostPort(t, addr)
	p := newSMTP(t, delivery.SMTPConfig{
		Host: host, Port: port, TLS: delivery.SMTPImplicitTLS,
		From: "no-reply@example.com", TLSConfig: &tls.Config{RootCAs: roots},
	})
	if err := p.Deliver(context.Background(), smtpEnvelope()); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	mailpitAPI{t, api}.only()
}

func TestSMTPMailpitRefusesWithoutSTARTTLS(t *testing.T) {
	addr, api := testenv.Mailpit(t) // no certificate: no STARTTLS offered
	host, port := smtpHostPort(t, addr)
	p := newSMTP(t, delivery.SMTPConfig{Host: host, Port: port, TLS: delivery.SMTPStartTLS, From: "no-reply@example.com"})
	err := p.Deliver(context.Background(), smtpEnvelope())
	if err == nil || delivery.IsPermanent(err) || !strings.Contains(err.Error(), "STARTTLS") {
		t.Errorf("Deliver = %v, want a transient STARTTLS error", err)
	}
	if n := len(mailpitAPI{t, api}.summaries()); n != 0 {
		t.Errorf("%d messages sent in clear", n)
	}
}

func TestSMTPMailpitClassification(t *testing.T) {
	addr, api := testenv.Mailpit(t, "--enable-chaos")
	host, port := smtpHostPort(t, addr)
	mp := mailpitAPI{t, api}
	p := newSMTP(t, delivery.SMTPConfig{Host: host, Port: port, TLS: delivery.SMTPNoTLS, From: "no-reply@example.com"})
	for _, tc := range []struct {
		trigger   string
		code      int
		permanent bool
	}{
		{"Recipient", 550, true},
		{"Recipient", 553, true},
		{"Recipient", 451, false},
		{"Recipient", 452, false},
		// The sender is authd's own configuration, the same for every
		// message: not a reason to abandon this one.
		{"Sender", 550, false},
		{"Sender", 451, false},
	} {
		mp.chaos(tc.trigger, tc.code)
		err := p.Deliver(context.Background(), smtpEnvelope())
		if err == nil || delivery.IsPermanent(err) != tc.permanent {
			t.Errorf("%s %d: Deliver = %v, want permanent=%v", tc.trigger, tc.code, err, tc.permanent)
		}
		if err != nil && strings.Contains(err.Error(), smtpTestCode) {
			t.Errorf("error contains the code: %v", err)
		}
	}
	mp.chaos("", 0)
	if err := p.Deliver(context.Background(), smtpEnvelope()); err != nil {
		t.Errorf("Deliver without chaos: %v", err)
	}
}

func TestSMTPRefusesHeaderInjection(t *testing.T) {
	fake := startFakeSMTP(t, fakeSMTPConfig{})
	host, port := smtpHostPort(t, fake.addr)
	p := newSMTP(t, delivery.SMTPConfig{Host: host, Port: port, TLS: delivery.SMTPNoTLS, From: "no-reply@example.com"})
	for name, mutate := range map[string]func(*delivery.Envelope){
		"To with CRLF":       func(e *delivery.Envelope) { e.To = "user@example.com\r\nBcc: victim@example.net" },
		"To with LF":         func(e *delivery.Envelope) { e.To = "user@example.com\nBcc: victim@example.net" },
		"To in a name":       func(e *delivery.Envelope) { e.To = "\"x\r\nBcc: victim@example.net\" <user@example.com>" },
		"two recipients":     func(e *delivery.Envelope) { e.To = "user@example.com, victim@example.net" },
		"Subject with CRLF":  func(e *delivery.Envelope) { e.Subject = "Hi\r\nBcc: victim@example.net" },
		"Subject with CR":    func(e *delivery.Envelope) { e.Subject = "Hi\rBcc: victim@example.net" },
		"no body":            func(e *delivery.Envelope) { e.Text, e.HTML = "", "" },
		"SMS on email route": func(e *delivery.Envelope) { e.Channel = challenge.ChannelSMS },
	} {
		e := smtpEnvelope()
		mutate(&e)
		if err := p.Deliver(context.Background(), e); !delivery.IsPermanent(err) {
			t.Errorf("%s: Deliver = %v, want a permanent error", name, err)
		}
	}
	if n := fake.connections(); n != 0 {
		t.Errorf("%d connections to the server, want none", n)
	}

	for name, cfg := range map[string]delivery.SMTPConfig{
		"From with CRLF":     {Host: "smtp.example.com", From: "a@example.com\r\nBcc: victim@example.net"},
		"Reply-To with LF":   {Host: "smtp.example.com", From: "a@example.com", ReplyTo: "b@example.com\nBcc: victim@example.net"},
		"no From":            {Host: "smtp.example.com"},
		"no host":            {From: "a@example.com"},
		"host with CRLF":     {Host: "smtp.example.com\r\nRCPT TO:<x@y>", From: "a@example.com"},
		"unknown TLS mode":   {Host: "smtp.example.com", From: "a@example.com", TLS: "ssl"},
		"port out of range":  {Host: "smtp.example.com", From: "a@example.com", Port: 70000},
		"negative timeout":   {Host: "smtp.example.com", From: "a@example.com", Timeout: -1},
		"From not a address": {Host: "smtp.example.com", From: "no-reply"},
	} {
		if _, err := delivery.NewSMTP(cfg); err == nil {
			t.Errorf("%s: NewSMTP accepted the configuration", name)
		}
	}
}

func TestSMTPLoginAuth(t *testing.T) {
	fake := startFakeSMTP(t, fakeSMTPConfig{auth: "LOGIN"})
	host, port := smtpHostPort(t, fake.addr)
	p := newSMTP(t, delivery.SMTPConfig{
		Host: host, Port: port, TLS: delivery.SMTPNoTLS,
		Username: "mailer", Password: "s3cret passw0rd", From: "no-reply@example.com",
	})
	if err := p.Deliver(context.Background(), smtpEnvelope()); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	s := fake.sessions()
	if len(s) != 1 || s[0].username != "mailer" || s[0].password != "s3cret passw0rd" {
		t.Fatalf("sessions = %+v, want LOGIN as mailer", s)
	}
	if s[0].mailFrom != "<no-reply@example.com>" || s[0].rcptTo != "<user@example.com>" {
		t.Errorf("envelope = %q -> %q", s[0].mailFrom, s[0].rcptTo)
	}
}

func TestSMTPAuthNotOffered(t *testing.T) {
	fake := startFakeSMTP(t, fakeSMTPConfig{auth: "CRAM-MD5"})
	host, port := smtpHostPort(t, fake.addr)
	p := newSMTP(t, delivery.SMTPConfig{
		Host: host, Port: port, TLS: delivery.SMTPNoTLS,
		Username: "mailer", Password: "pw", From: "no-reply@example.com",
	})
	err := p.Deliver(context.Background(), smtpEnvelope())
	if err == nil || delivery.IsPermanent(err) || !strings.Contains(err.Error(), "AUTH") {
		t.Errorf("Deliver = %v, want a transient AUTH error", err)
	}
	if s := fake.sessions(); len(s) != 1 || s[0].mailFrom != "" {
		t.Errorf("sessions = %+v: a message went out without the configured authentication", s)
	}
}

func TestSMTPFakeServerClassification(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cfg       fakeSMTPConfig
		permanent bool
	}{
		{"content rejected", fakeSMTPConfig{replies: map[string]string{"END": "554 5.7.1 message rejected"}}, true},
		{"content deferred", fakeSMTPConfig{replies: map[string]string{"END": "451 4.3.0 try again later"}}, false},
		{"DATA refused", fakeSMTPConfig{replies: map[string]string{"DATA": "554 5.5.1 no valid recipients"}}, true},
		{"unknown recipient", fakeSMTPConfig{replies: map[string]string{"RCPT": "550 5.1.1 no such user"}}, true},
		{"service unavailable", fakeSMTPConfig{greeting: "554 5.3.2 not accepting mail"}, false},
		{"busy", fakeSMTPConfig{greeting: "421 4.3.2 busy"}, false},
		{"EHLO refused", fakeSMTPConfig{replies: map[string]string{"EHLO": "550 go away"}}, false},
		{"hang-up after DATA", fakeSMTPConfig{hangUpAfterData: true}, false},
	} {
		fake := startFakeSMTP(t, tc.cfg)
		host, port := smtpHostPort(t, fake.addr)
		p := newSMTP(t, delivery.SMTPConfig{Host: host, Port: port, TLS: delivery.SMTPNoTLS, From: "no-reply@example.com"})
		err := p.Deliver(context.Background(), smtpEnvelope())
		if err == nil || delivery.IsPermanent(err) != tc.permanent {
			t.Errorf("%s: Deliver = %v, want permanent=%v", tc.name, err, tc.permanent)
		}
	}
}

func TestSMTPRawMessageIsCRLFAndDotStuffed(t *testing.T) {
	fake := startFakeSMTP(t, fakeSMTPConfig{})
	host, port := smtpHostPort(t, fake.addr)
	p := newSMTP(t, delivery.SMTPConfig{Host: host, Port: port, TLS: delivery.SMTPNoTLS, From: "no-reply@example.com"})
	e := smtpEnvelope()
	e.Text = "line one\n.\nline three\r\nline four\n"
	if err := p.Deliver(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	s := fake.sessions()
	if len(s) != 1 {
		t.Fatalf("%d sessions", len(s))
	}
	data := s[0].data
	if !crlfOnly([]byte(data)) {
		t.Errorf("message has a bare CR or LF:\n%q", data)
	}
	// On the wire, the lone dot is doubled so that it does not end the
	// message early.
	if !strings.Contains(data, "line one\r\n..\r\nline three\r\nline four\r\n") {
		t.Errorf("text part mangled:\n%s", data)
	}
}

func TestSMTPTimeout(t *testing.T) {
	// A server that accepts the connection and never greets.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	host, port := smtpHostPort(t, ln.Addr().String())
	p := newSMTP(t, delivery.SMTPConfig{Host: host, Port: port, TLS: delivery.SMTPNoTLS, From: "no-reply@example.com", Timeout: 300 * time.Millisecond})
	start := time.Now()
	err = p.Deliver(context.Background(), smtpEnvelope())
	if err == nil || delivery.IsPermanent(err) {
		t.Errorf("Deliver = %v, want a transient error", err)
	}
	if d := time.Since(start); d > 1300*time.Millisecond {
		t.Errorf("Deliver took %v with a 300ms timeout", d)
	}

	// A cancelled context interrupts too.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	p = newSMTP(t, delivery.SMTPConfig{Host: host, Port: port, TLS: delivery.SMTPNoTLS, From: "no-reply@example.com"})
	start = time.Now()
	if err := p.Deliver(ctx, smtpEnvelope()); err == nil || delivery.IsPermanent(err) {
		t.Errorf("Deliver = %v, want a transient error", err)
	}
	if d := time.Since(start); d > 1100*time.Millisecond {
		t.Errorf("Deliver took %v with a 100ms context", d)
	}
}

func TestSMTPConnectionRefusedIsTransient(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host, port := smtpHostPort(t, ln.Addr().String())
	ln.Close()
	p := newSMTP(t, delivery.SMTPConfig{Host: host, Port: port, TLS: delivery.SMTPImplicitTLS, From: "no-reply@example.com"})
	if err := p.Deliver(context.Background(), smtpEnvelope()); err == nil || delivery.IsPermanent(err) {
		t.Errorf("Deliver = %v, want a transient error", err)
	}
}

// normalize makes decoded parts comparable: line endings and the trailing
// line break are the transport's business.
func normalize(s string) string {
	return strings.TrimSpace(strings.ReplaceAll(s, "\r\n", "\n"))
}

// crlfOnly reports whether every CR and LF in b is part of a CRLF pair.
func crlfOnly(b []byte) bool {
	return bytes.Count(b, []byte("\r")) == bytes.Count(b, []byte("\r\n")) &&
		bytes.Count(b, []byte("\n")) == bytes.Count(b, []byte("\r\n"))
}

// smtpTestCert writes a self-signed certificate for 127.0.0.1 and localhost
// and returns a pool that trusts it.
func smtpTestCert(t *testing.T, dir string) (roots *x509.CertPool, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "authd test SMTP"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	roots = x509.NewCertPool()
	roots.AddCert(cert)
	return roots, certFile, keyFile
}

// mailpitAPI reads what a testenv.Mailpit received, through
// GET /api/v1/messages, /api/v1/message/{ID}, …/headers and …/raw.
type mailpitAPI struct {
	t   *testing.T
	url string
}

type mailpitAddress struct{ Name, Address string }

type mailpitSummary struct{ ID string }

type mailpitMessage struct {
	ID, MessageID, Subject, Text, HTML string
	From                               mailpitAddress
	To, ReplyTo                        []mailpitAddress
	Date                               time.Time
}

func (m mailpitAPI) get(path string) []byte {
	m.t.Helper()
	resp, err := http.Get(m.url + path)
	if err != nil {
		m.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		m.t.Fatalf("GET %s: %s %v\n%s", path, resp.Status, err, b)
	}
	return b
}

func (m mailpitAPI) decode(path string, v any) {
	m.t.Helper()
	if err := json.Unmarshal(m.get(path), v); err != nil {
		m.t.Fatalf("GET %s: %v", path, err)
	}
}

func (m mailpitAPI) summaries() []mailpitSummary {
	m.t.Helper()
	var list struct{ Messages []mailpitSummary }
	m.decode("/api/v1/messages", &list)
	return list.Messages
}

// only returns the ID of the one message received, failing otherwise.
func (m mailpitAPI) only() string {
	m.t.Helper()
	s := m.summaries()
	if len(s) != 1 {
		m.t.Fatalf("mailpit holds %d messages, want 1", len(s))
	}
	return s[0].ID
}

func (m mailpitAPI) message(id string) mailpitMessage {
	m.t.Helper()
	var msg mailpitMessage
	m.decode("/api/v1/message/"+id, &msg)
	return msg
}

func (m mailpitAPI) headers(id string) map[string][]string {
	m.t.Helper()
	h := map[string][]string{}
	m.decode("/api/v1/message/"+id+"/headers", &h)
	return h
}

func (m mailpitAPI) raw(id string) []byte {
	m.t.Helper()
	return m.get("/api/v1/message/" + id + "/raw")
}

// chaos makes Mailpit answer every use of trigger ("Sender", "Recipient")
// with code; an empty trigger turns chaos off.
func (m mailpitAPI) chaos(trigger string, code int) {
	m.t.Helper()
	body := "{}"
	if trigger != "" {
		b, _ := json.Marshal(map[string]any{trigger: map[string]int{"ErrorCode": code, "Probability": 100}})
		body = string(b)
	}
	req, _ := http.NewRequest(http.MethodPut, m.url+"/api/v1/chaos", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		m.t.Fatalf("PUT /api/v1/chaos: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		m.t.Fatalf("PUT /api/v1/chaos: %s %s", resp.Status, b)
	}
}

// fakeSMTP is a scripted SMTP server for what Mailpit cannot be made to
// do: offer LOGIN alone, reject content, greet with an error, hang up.
type fakeSMTP struct {
	addr string
	cfg  fakeSMTPConfig

	mu    sync.Mutex
	conns int
	done  []fakeSMTPSession
}

type fakeSMTPConfig struct {
	greeting string            // default "220 fake ESMTP"
	auth     string            // AUTH mechanisms offered in EHLO; none when empty
	replies  map[string]string // reply to a verb (EHLO, MAIL, RCPT, DATA) or to the final dot (END)
	// hangUpAfterData closes the connection instead of answering the
	// final dot.
	hangUpAfterData bool
}

type fakeSMTPSession struct {
	username, password string
	mailFrom, rcptTo   string
	data               string
}

func startFakeSMTP(t *testing.T, cfg fakeSMTPConfig) *fakeSMTP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeSMTP{addr: ln.Addr().String(), cfg: cfg}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.mu.Lock()
			f.conns++
			f.mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				s := f.serve(textproto.NewConn(c))
				f.mu.Lock()
				f.done = append(f.done, s)
				f.mu.Unlock()
			})
		}
	})
	return f
}

func (f *fakeSMTP) connections() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.conns
}

// sessions returns the finished sessions, once every accepted connection
// has finished: the client may return before the server is done.
func (f *fakeSMTP) sessions() []fakeSMTPSession {
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		f.mu.Lock()
		if len(f.done) == f.conns || time.Now().After(deadline) {
			defer f.mu.Unlock()
			return append([]fakeSMTPSession(nil), f.done...)
		}
		f.mu.Unlock()
	}
}

func (f *fakeSMTP) reply(verb, def string) string {
	if r, ok := f.cfg.replies[verb]; ok {
		return r
	}
	return def
}

func (f *fakeSMTP) serve(c *textproto.Conn) (s fakeSMTPSession) {
	greeting := f.cfg.greeting
	if greeting == "" {
		greeting = "220 fake ESMTP"
	}
	if c.PrintfLine("%s", greeting) != nil || !strings.HasPrefix(greeting, "2") {
		return s
	}
	decode := func(line string) string {
		b, _ := base64.StdEncoding.DecodeString(line)
		return string(b)
	}
	for {
		line, err := c.ReadLine()
		if err != nil {
			return s
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch verb = strings.ToUpper(verb); verb {
		case "EHLO":
			if r, ok := f.cfg.replies["EHLO"]; ok {
				_ = c.PrintfLine("%s", r)
				continue
			}
			ext := "250-fake\r\n"
			if f.cfg.auth != "" {
				ext += "250-AUTH " + f.cfg.auth + "\r\n"
			}
			_ = c.PrintfLine("%s250 8BITMIME", ext)
		case "AUTH":
			if strings.ToUpper(arg) != "LOGIN" || !strings.Contains(f.cfg.auth, "LOGIN") {
				_ = c.PrintfLine("504 unsupported")
				continue
			}
			_ = c.PrintfLine("334 VXNlcm5hbWU6")
			u, _ := c.ReadLine()
			_ = c.PrintfLine("334 UGFzc3dvcmQ6")
			p, _ := c.ReadLine()
			s.username, s.password = decode(u), decode(p)
			_ = c.PrintfLine("235 2.7.0 authenticated")
		case "MAIL":
			s.mailFrom = strings.TrimPrefix(strings.Fields(arg)[0], "FROM:")
			_ = c.PrintfLine("%s", f.reply("MAIL", "250 ok"))
		case "RCPT":
			s.rcptTo = strings.TrimPrefix(arg, "TO:")
			_ = c.PrintfLine("%s", f.reply("RCPT", "250 ok"))
		case "DATA":
			r := f.reply("DATA", "354 go ahead")
			_ = c.PrintfLine("%s", r)
			if !strings.HasPrefix(r, "354") {
				continue
			}
			// Raw lines, as sent (dot-stuffed, CRLF), up to the final dot.
			var data strings.Builder
			for {
				l, err := c.R.ReadString('\n')
				if err != nil {
					return s
				}
				if l == ".\r\n" {
					break
				}
				data.WriteString(l)
			}
			s.data = data.String()
			if f.cfg.hangUpAfterData {
				return s
			}
			_ = c.PrintfLine("%s", f.reply("END", "250 queued"))
		case "QUIT":
			_ = c.PrintfLine("221 bye")
			return s
		default:
			_ = c.PrintfLine("502 unknown command")
		}
	}
}
