package delivery

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/authd/authd/challenge"
	"github.com/authd/authd/internal/random"
)

// SMTP TLS modes (SMTPConfig.TLS).
const (
	// SMTPStartTLS connects in clear and upgrades with STARTTLS before
	// anything else is said; a server that does not offer it is refused.
	SMTPStartTLS = "starttls"
	// SMTPImplicitTLS speaks TLS from the first byte (port 465).
	SMTPImplicitTLS = "implicit"
	// SMTPNoTLS sends everything, passwords and codes included, in clear:
	// for local test servers only.
	SMTPNoTLS = "none"
)

// SMTPConfig configures delivery through an SMTP submission server.
type SMTPConfig struct {
	Host string
	// Port defaults to 587 for starttls, 465 for implicit and 25 for none.
	Port int
	// Username and Password authenticate with AUTH PLAIN, or LOGIN when the
	// server offers only that. An empty Username sends without AUTH.
	Username string
	Password string
	// From is the sender, "no-reply@example.com" or
	// "Example <no-reply@example.com>"; its address is also the envelope
	// sender.
	From string
	// ReplyTo, when set, becomes the Reply-To header.
	ReplyTo string
	// TLS is SMTPStartTLS (the default when empty), SMTPImplicitTLS or
	// SMTPNoTLS.
	TLS string
	// Timeout bounds one Deliver call, connection included. Zero means 30s.
	Timeout time.Duration
	// TLSConfig, when set, is used for the handshake (a private root, a
	// client certificate); ServerName defaults to Host.
	TLSConfig *tls.Config
}

// LogValue prints the configuration without its password.
func (c SMTPConfig) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("host", c.Host),
		slog.Int("port", c.Port),
		slog.String("username", c.Username),
		slog.String("password", redactIfSet(c.Password)),
		slog.String("from", c.From),
		slog.String("reply_to", c.ReplyTo),
		slog.String("tls", c.TLS),
		slog.Duration("timeout", c.Timeout),
	)
}

// SMTP delivers email to an SMTP submission server: one connection per
// message, a multipart/alternative message with the text and HTML parts.
//
// A 5xx answer to the recipient or the content (550 no such user, 554
// rejected) is permanent. Everything else is transient, 5xx answers before
// the recipient included: a refused login, STARTTLS missing or a refused
// sender are problems of the server or of authd's configuration that every
// message shares, and fixing them should let the queued messages out
// rather than find them abandoned.
type SMTP struct {
	host      string
	addr      string
	mode      string
	username  string
	password  string
	from      *mail.Address
	replyTo   *mail.Address
	timeout   time.Duration
	tlsConfig *tls.Config
	localName string
}

var _ Provider = (*SMTP)(nil)

// LogValue keeps the password out of logs.
func (p *SMTP) LogValue() slog.Value {
	return slog.GroupValue(slog.String("addr", p.addr), slog.String("tls", p.mode), slog.String("username", p.username))
}

// NewSMTP checks cfg and returns the provider.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	if cfg.Host == "" || strings.ContainsAny(cfg.Host, "\r\n\x00 ") {
		return nil, errors.New("smtp: host is empty or malformed")
	}
	mode := cfg.TLS
	if mode == "" {
		mode = SMTPStartTLS
	}
	port := cfg.Port
	switch mode {
	case SMTPStartTLS:
		port = cmp.Or(port, 587)
	case SMTPImplicitTLS:
		port = cmp.Or(port, 465)
	case SMTPNoTLS:
		port = cmp.Or(port, 25)
	default:
		return nil, fmt.Errorf("smtp: TLS mode %q is not %s, %s or %s", cfg.TLS, SMTPStartTLS, SMTPImplicitTLS, SMTPNoTLS)
	}
	if port < 1 || port > 65535 {
		return nil, fmt.Errorf("smtp: port %d is out of range", port)
	}
	if cfg.From == "" {
		return nil, errors.New("smtp: from address is required")
	}
	from, err := parseHeaderAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("smtp: from address: %w", err)
	}
	var replyTo *mail.Address
	if cfg.ReplyTo != "" {
		if replyTo, err = parseHeaderAddress(cfg.ReplyTo); err != nil {
			return nil, fmt.Errorf("smtp: reply-to address: %w", err)
		}
	}
	timeout, err := providerTimeout(cfg.Timeout)
	if err != nil {
		return nil, fmt.Errorf("smtp: %w", err)
	}
	var tc *tls.Config
	if cfg.TLSConfig != nil {
		tc = cfg.TLSConfig.Clone()
	} else {
		tc = &tls.Config{}
	}
	if tc.ServerName == "" {
		tc.ServerName = cfg.Host
	}
	tc.MinVersion = max(tc.MinVersion, tls.VersionTLS12)
	return &SMTP{
		host:      cfg.Host,
		addr:      net.JoinHostPort(cfg.Host, strconv.Itoa(port)),
		mode:      mode,
		username:  cfg.Username,
		password:  cfg.Password,
		from:      from,
		replyTo:   replyTo,
		timeout:   timeout,
		tlsConfig: tc,
		localName: smtpLocalName(),
	}, nil
}

var smtpHostnameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$`)

// smtpLocalName is the name authd gives in EHLO: the machine's host name,
// which some servers check, or "localhost" when that is not a valid name.
func smtpLocalName() string {
	if h, err := os.Hostname(); err == nil && smtpHostnameRE.MatchString(h) {
		return h
	}
	return "localhost"
}

// parseHeaderAddress parses one address for a header. CR and LF are refused
// before parsing, so no input can end a header and start another.
func parseHeaderAddress(s string) (*mail.Address, error) {
	if strings.ContainsAny(s, "\r\n\x00") {
		return nil, errors.New("contains a line break or NUL")
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, fmt.Errorf("not a single valid address: %w", err)
	}
	return a, nil
}

// Deliver implements Provider.
func (p *SMTP) Deliver(ctx context.Context, e Envelope) error {
	if e.Channel != "" && e.Channel != challenge.ChannelEmail {
		return Permanent(fmt.Errorf("smtp: cannot deliver a %s message", e.Channel))
	}
	to, err := parseHeaderAddress(e.To)
	if err != nil {
		return Permanent(fmt.Errorf("smtp: recipient: %w", err))
	}
	msg, err := p.message(e, to, time.Now())
	if err != nil {
		return Permanent(fmt.Errorf("smtp: build message: %w", err))
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	return p.send(ctx, to.Address, msg)
}

// smtpStep names a step of the SMTP conversation in errors, and says
// whether a 5xx answer there concerns this message (permanent) or the
// session (transient).
type smtpStep struct {
	name    string
	message bool
}

var (
	smtpStepConnect  = smtpStep{name: "connect"}
	smtpStepHello    = smtpStep{name: "EHLO"}
	smtpStepStartTLS = smtpStep{name: "STARTTLS"}
	smtpStepAuth     = smtpStep{name: "AUTH"}
	smtpStepMail     = smtpStep{name: "MAIL FROM"}
	smtpStepRcpt     = smtpStep{name: "RCPT TO", message: true}
	smtpStepData     = smtpStep{name: "DATA", message: true}
)

func (s smtpStep) fail(err error) error {
	err = fmt.Errorf("smtp: %s: %w", s.name, err)
	var te *textproto.Error
	if s.message && errors.As(err, &te) && te.Code >= 500 && te.Code < 600 {
		return Permanent(err)
	}
	return err
}

func (p *SMTP) send(ctx context.Context, rcpt string, msg []byte) error {
	conn, err := p.dial(ctx)
	if err != nil {
		return smtpStepConnect.fail(err)
	}
	defer conn.Close()
	// net/smtp knows no contexts: the deadline bounds every read and write,
	// and a cancelled context interrupts the one in progress.
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	c, err := smtp.NewClient(conn, p.host)
	if err != nil {
		return smtpStepConnect.fail(err)
	}
	if err := c.Hello(p.localName); err != nil {
		return smtpStepHello.fail(err)
	}
	if p.mode == SMTPStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return smtpStepStartTLS.fail(errors.New("server does not offer STARTTLS; refusing to send in clear"))
		}
		if err := c.StartTLS(p.tlsConfig); err != nil {
			return smtpStepStartTLS.fail(err)
		}
	}
	if p.username != "" {
		a, err := p.auth(c)
		if err != nil {
			return smtpStepAuth.fail(err)
		}
		if err := c.Auth(a); err != nil {
			return smtpStepAuth.fail(err)
		}
	}
	if err := c.Mail(p.from.Address); err != nil {
		return smtpStepMail.fail(err)
	}
	if err := c.Rcpt(rcpt); err != nil {
		return smtpStepRcpt.fail(err)
	}
	w, err := c.Data()
	if err != nil {
		return smtpStepData.fail(err)
	}
	if _, err := w.Write(msg); err != nil {
		return smtpStepData.fail(err)
	}
	// Close sends the final dot and reads the server's verdict.
	if err := w.Close(); err != nil {
		return smtpStepData.fail(err)
	}
	// The message is accepted: a failing QUIT must not make the outbox send
	// it again.
	_ = c.Quit()
	return nil
}

func (p *SMTP) dial(ctx context.Context) (net.Conn, error) {
	d := &net.Dialer{}
	if p.mode == SMTPImplicitTLS {
		return (&tls.Dialer{NetDialer: d, Config: p.tlsConfig}).DialContext(ctx, "tcp", p.addr)
	}
	return d.DialContext(ctx, "tcp", p.addr)
}

// auth picks PLAIN, or LOGIN when the server offers only that.
func (p *SMTP) auth(c *smtp.Client) (smtp.Auth, error) {
	ok, mechs := c.Extension("AUTH")
	if !ok {
		return nil, errors.New("server offers no authentication, but a username is configured")
	}
	offered := strings.Fields(strings.ToUpper(mechs))
	switch {
	case slices.Contains(offered, "PLAIN"):
		// PlainAuth refuses to send the password without TLS unless the
		// server is on localhost.
		return smtp.PlainAuth("", p.username, p.password, p.host), nil
	case slices.Contains(offered, "LOGIN"):
		return &smtpLoginAuth{host: p.host, username: p.username, password: p.password}, nil
	}
	return nil, fmt.Errorf("server offers %q, none of PLAIN and LOGIN", mechs)
}

// smtpLoginAuth is the LOGIN mechanism, which net/smtp lacks and some
// servers (Exchange among them) offer alone: the server prompts for the
// username, then the password. One value serves one authentication.
type smtpLoginAuth struct {
	host, username, password string
	step                     int
}

func (a *smtpLoginAuth) Start(server *smtp.ServerInfo) (string, []byte, error) {
	// The same guards as smtp.PlainAuth: LOGIN sends the password in clear.
	if !server.TLS && !smtpIsLocalhost(server.Name) {
		return "", nil, errors.New("refusing LOGIN authentication over an unencrypted connection")
	}
	if server.Name != a.host {
		return "", nil, errors.New("wrong host name")
	}
	return "LOGIN", nil, nil
}

func (a *smtpLoginAuth) Next(_ []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	// Prompts differ between servers ("Username:", "User Name"), so the
	// answer follows the order of the exchange rather than the prompt.
	a.step++
	switch a.step {
	case 1:
		return []byte(a.username), nil
	case 2:
		return []byte(a.password), nil
	}
	return nil, errors.New("unexpected LOGIN challenge")
}

func smtpIsLocalhost(name string) bool {
	return name == "localhost" || name == "127.0.0.1" || name == "::1"
}

// smtpLocaleRE accepts BCP 47 tags ("en", "pt-BR"); anything else is left
// out of the headers rather than failing the message.
var smtpLocaleRE = regexp.MustCompile(`^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$`)

var smtpMessageIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// message builds the RFC 5322 message: headers, then the text and HTML
// parts as multipart/alternative (or the one part there is), each
// quoted-printable, with CRLF line endings throughout.
func (p *SMTP) message(e Envelope, to *mail.Address, now time.Time) ([]byte, error) {
	if strings.ContainsAny(e.Subject, "\r\n\x00") {
		return nil, errors.New("subject contains a line break or NUL")
	}
	if e.Text == "" && e.HTML == "" {
		return nil, errors.New("message has neither text nor HTML")
	}
	msgID, err := p.messageID(e.ID)
	if err != nil {
		return nil, err
	}

	var b bytes.Buffer
	header := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	header("Date", now.Format(time.RFC1123Z))
	header("From", p.from.String())
	header("To", to.String())
	if p.replyTo != nil {
		header("Reply-To", p.replyTo.String())
	}
	header("Subject", encodeSubject(e.Subject))
	if smtpLocaleRE.MatchString(e.Locale) {
		header("Content-Language", e.Locale)
	}
	header("Message-ID", msgID)
	header("MIME-Version", "1.0")
	// RFC 3834: vacation responders must not answer a code.
	header("Auto-Submitted", "auto-generated")

	if e.Text == "" || e.HTML == "" {
		ct, body := "text/plain", e.Text
		if e.Text == "" {
			ct, body = "text/html", e.HTML
		}
		header("Content-Type", ct+"; charset=utf-8")
		header("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		if err := writeQuotedPrintable(&b, body); err != nil {
			return nil, err
		}
		return b.Bytes(), nil
	}

	mw := multipart.NewWriter(&b)
	header("Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": mw.Boundary()}))
	b.WriteString("\r\n")
	// Plain text first: multipart/alternative lists the richest part last.
	for _, part := range []struct{ ct, body string }{{"text/plain", e.Text}, {"text/html", e.HTML}} {
		w, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.ct + "; charset=utf-8"},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		if err := writeQuotedPrintable(w, part.body); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// messageID is derived from the envelope's ID when it has one, so that a
// message sent again after an ambiguous failure (a timeout after the final
// dot) carries the same Message-ID and can be recognised as a duplicate.
func (p *SMTP) messageID(id string) (string, error) {
	if !smtpMessageIDRE.MatchString(id) {
		tok, err := random.Token(nil, 16)
		if err != nil {
			return "", err
		}
		id = tok
	}
	domain := p.from.Address[strings.LastIndexByte(p.from.Address, '@')+1:]
	return "<authd." + id + "@" + domain + ">", nil
}

// encodeSubject encodes a non-ASCII subject as RFC 2047 encoded-words and
// folds between them, keeping lines short.
func encodeSubject(s string) string {
	return strings.ReplaceAll(mime.QEncoding.Encode("utf-8", s), "?= =?", "?=\r\n =?")
}

// writeQuotedPrintable encodes s; the encoder turns every line break into
// CRLF.
func writeQuotedPrintable(w io.Writer, s string) error {
	qp := quotedprintable.NewWriter(w)
	if _, err := qp.Write([]byte(s)); err != nil {
		return err
	}
	return qp.Close()
}
