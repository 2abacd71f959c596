package delivery

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/authd/authd/challenge"
)

// Headers of a signed SMS webhook call.
const (
	SMSTimestampHeader = "X-Authd-Timestamp"
	SMSSignatureHeader = "X-Authd-Signature"
)

// MinSMSSecretLen is the shortest accepted webhook secret: 256 bits, the
// size of the HMAC-SHA256 key it becomes.
const MinSMSSecretLen = 32

// smsSignaturePrefix versions the signature scheme so that a receiver can
// accept a successor during a migration.
const smsSignaturePrefix = "v1="

// SMSWebhookConfig configures the SMS webhook.
type SMSWebhookConfig struct {
	// URL receives the POSTs.
	URL string
	// Secret keys the HMAC that signs every call; at least
	// MinSMSSecretLen bytes, shared with the receiver.
	Secret []byte
	// Timeout bounds one Deliver call. Zero means 30s.
	Timeout time.Duration
	// HTTPClient sends the requests. Nil means a client that does not follow
	// redirects.
	HTTPClient *http.Client
}

// LogValue prints the configuration without its secret.
func (c SMSWebhookConfig) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("url", redactedURL(c.URL)),
		slog.String("secret", redactIfSet(string(c.Secret))),
		slog.Duration("timeout", c.Timeout),
	)
}

// SMSWebhook delivers text messages by POSTing them to a webhook that hands
// them to an SMS gateway:
//
//	POST {url}
//	X-Authd-Timestamp: <unix seconds>
//	X-Authd-Signature: v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>
//	{"to": "+15550100", "body": "…", "template": "…", "variables": {…}}
//
// The receiver checks the signature with VerifySMSSignature. A 2xx means
// sent, a 4xx other than 408 and 429 is permanent, anything else is
// transient. Each Deliver makes one attempt: the outbox retries.
type SMSWebhook struct {
	url     string
	secret  []byte
	timeout time.Duration
	client  *http.Client
	now     func() time.Time
}

var _ Provider = (*SMSWebhook)(nil)

// LogValue keeps the secret out of logs.
func (p *SMSWebhook) LogValue() slog.Value {
	return slog.GroupValue(slog.String("url", redactedURL(p.url)))
}

// NewSMSWebhook checks cfg and returns the provider.
func NewSMSWebhook(cfg SMSWebhookConfig) (*SMSWebhook, error) {
	u, err := providerURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("sms webhook: URL: %w", err)
	}
	if len(cfg.Secret) < MinSMSSecretLen {
		return nil, fmt.Errorf("sms webhook: secret has %d bytes, at least %d are required", len(cfg.Secret), MinSMSSecretLen)
	}
	timeout, err := providerTimeout(cfg.Timeout)
	if err != nil {
		return nil, fmt.Errorf("sms webhook: %w", err)
	}
	return &SMSWebhook{
		url:     u.String(),
		secret:  append([]byte(nil), cfg.Secret...),
		timeout: timeout,
		client:  providerHTTPClient(cfg.HTTPClient),
		now:     time.Now,
	}, nil
}

// smsWebhookRequest is the body of a webhook call.
type smsWebhookRequest struct {
	To        string            `json:"to"`
	Body      string            `json:"body"`
	Template  string            `json:"template"`
	Variables map[string]string `json:"variables"`
}

// Deliver implements Provider.
func (p *SMSWebhook) Deliver(ctx context.Context, e Envelope) error {
	if e.Channel != "" && e.Channel != challenge.ChannelSMS {
		return Permanent(fmt.Errorf("sms webhook: cannot deliver a %s message", e.Channel))
	}
	if e.To == "" {
		return Permanent(errors.New("sms webhook: message has no recipient"))
	}
	vars := e.Variables
	if vars == nil {
		vars = map[string]string{}
	}
	body, err := json.Marshal(smsWebhookRequest{To: e.To, Body: e.Text, Template: e.Template, Variables: vars})
	if err != nil {
		return Permanent(fmt.Errorf("sms webhook: encode request: %w", err))
	}
	ts := strconv.FormatInt(p.now().Unix(), 10)
	h := http.Header{}
	h.Set(SMSTimestampHeader, ts)
	h.Set(SMSSignatureHeader, smsSignaturePrefix+hex.EncodeToString(smsMAC(p.secret, ts, body)))

	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	if err := providerPost(ctx, p.client, p.url, h, e.ID, body); err != nil {
		return fmt.Errorf("sms webhook: %w", err)
	}
	return nil
}

// ErrSMSSignature is wrapped by every error of VerifySMSSignature: the
// call is not authentic, and the receiver should answer 401.
var ErrSMSSignature = errors.New("invalid sms webhook signature")

// VerifySMSSignature checks the headers of an SMS webhook call against its
// raw body: the signature must be the HMAC-SHA256 of timestamp + "." + body
// under secret, and the timestamp within tolerance of now, so that a
// recorded call cannot be replayed later.
func VerifySMSSignature(secret []byte, timestamp, signature string, body []byte, now time.Time, tolerance time.Duration) error {
	if len(secret) < MinSMSSecretLen {
		return fmt.Errorf("%w: secret shorter than %d bytes", ErrSMSSignature, MinSMSSecretLen)
	}
	if tolerance <= 0 {
		return fmt.Errorf("%w: tolerance must be positive", ErrSMSSignature)
	}
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: malformed %s", ErrSMSSignature, SMSTimestampHeader)
	}
	// Sub saturates instead of overflowing, so an absurd timestamp fails too.
	if skew := now.Sub(time.Unix(sec, 0)); skew > tolerance || skew < -tolerance {
		return fmt.Errorf("%w: timestamp outside the %v tolerance", ErrSMSSignature, tolerance)
	}
	hexMAC, ok := strings.CutPrefix(signature, smsSignaturePrefix)
	if !ok {
		return fmt.Errorf("%w: %s is not %s<hex>", ErrSMSSignature, SMSSignatureHeader, smsSignaturePrefix)
	}
	got, err := hex.DecodeString(hexMAC)
	if err != nil {
		return fmt.Errorf("%w: %s is not hex", ErrSMSSignature, SMSSignatureHeader)
	}
	if !hmac.Equal(got, smsMAC(secret, timestamp, body)) {
		return fmt.Errorf("%w: signature does not match", ErrSMSSignature)
	}
	return nil
}

func smsMAC(secret []byte, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}
