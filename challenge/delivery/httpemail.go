package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/authd/authd/challenge"
)

// HTTPEmailConfig configures the email service of seed 000.
type HTTPEmailConfig struct {
	// ServiceURL is the service's base URL; Deliver posts to
	// ServiceURL + "/email/send".
	ServiceURL string
	// Timeout bounds one Deliver call, immediate retries included, so a
	// hanging service holds a worker for at most this long. Zero means 30s.
	Timeout time.Duration
	// RetryCount is how many times one Deliver retries a transient failure
	// at once, after a short pause, before leaving the message to the
	// outbox's slower retries. A 4xx is never retried.
	RetryCount int
	// BearerToken, when set, is sent as "Authorization: Bearer …".
	BearerToken string
	// APIKey, when set, is sent as "X-API-Key: …".
	APIKey string
	// HTTPClient sends the requests. Nil means a client that does not follow
	// redirects, so the credentials above never reach another host.
	HTTPClient *http.Client
}

// LogValue prints the configuration without its credentials.
func (c HTTPEmailConfig) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("service_url", c.ServiceURL),
		slog.Duration("timeout", c.Timeout),
		slog.Int("retry_count", c.RetryCount),
		slog.String("bearer_token", redactIfSet(c.BearerToken)),
		slog.String("api_key", redactIfSet(c.APIKey)),
	)
}

// HTTPEmail delivers email through the HTTP email service of seed 000:
//
//	POST {service_url}/email/send
//	{"to": "…", "subject": "…", "template": "…", "variables": {"otp": "…", …}}
//
// The service renders the template itself; Subject travels so that it can
// also use authd's rendering. A 2xx means sent, a 4xx is permanent, anything
// else (5xx, 408, 429, timeouts, network errors) is transient.
type HTTPEmail struct {
	endpoint string
	timeout  time.Duration
	retries  int
	headers  http.Header
	client   *http.Client
}

var _ Provider = (*HTTPEmail)(nil)

// LogValue keeps the credentials out of logs.
func (p *HTTPEmail) LogValue() slog.Value {
	return slog.GroupValue(slog.String("endpoint", redactedURL(p.endpoint)), slog.Int("retry_count", p.retries))
}

// NewHTTPEmail checks cfg and returns the provider.
func NewHTTPEmail(cfg HTTPEmailConfig) (*HTTPEmail, error) {
	u, err := providerURL(cfg.ServiceURL)
	if err != nil {
		return nil, fmt.Errorf("email service: service URL: %w", err)
	}
	timeout, err := providerTimeout(cfg.Timeout)
	if err != nil {
		return nil, fmt.Errorf("email service: %w", err)
	}
	if cfg.RetryCount < 0 || cfg.RetryCount > maxHTTPEmailRetries {
		return nil, fmt.Errorf("email service: retry count %d is not between 0 and %d", cfg.RetryCount, maxHTTPEmailRetries)
	}
	h := make(http.Header)
	if cfg.BearerToken != "" {
		h.Set("Authorization", "Bearer "+cfg.BearerToken)
	}
	if cfg.APIKey != "" {
		h.Set("X-API-Key", cfg.APIKey)
	}
	return &HTTPEmail{
		endpoint: u.JoinPath("email", "send").String(),
		timeout:  timeout,
		retries:  cfg.RetryCount,
		headers:  h,
		client:   providerHTTPClient(cfg.HTTPClient),
	}, nil
}

const (
	// maxHTTPEmailRetries keeps a typo from turning one Deliver into a
	// retry storm; the outbox's own retries are the long-term mechanism.
	maxHTTPEmailRetries = 10
	// httpEmailRetryDelay is the first pause between immediate retries; it
	// doubles each time, up to httpEmailMaxRetryDelay.
	httpEmailRetryDelay    = 100 * time.Millisecond
	httpEmailMaxRetryDelay = time.Second
)

// httpEmailRequest is the body of seed 000's POST /email/send.
type httpEmailRequest struct {
	To        string            `json:"to"`
	Subject   string            `json:"subject"`
	Template  string            `json:"template"`
	Variables map[string]string `json:"variables"`
}

// Deliver implements Provider.
func (p *HTTPEmail) Deliver(ctx context.Context, e Envelope) error {
	if e.Channel != "" && e.Channel != challenge.ChannelEmail {
		return Permanent(fmt.Errorf("email service: cannot deliver a %s message", e.Channel))
	}
	if e.To == "" {
		return Permanent(errors.New("email service: message has no recipient"))
	}
	vars := e.Variables
	if vars == nil {
		// The seed's service expects an object, not null.
		vars = map[string]string{}
	}
	body, err := json.Marshal(httpEmailRequest{To: e.To, Subject: e.Subject, Template: e.Template, Variables: vars})
	if err != nil {
		return Permanent(fmt.Errorf("email service: encode request: %w", err))
	}

	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	delay := httpEmailRetryDelay
	for attempt := 0; ; attempt++ {
		err = providerPost(ctx, p.client, p.endpoint, p.headers, e.ID, body)
		if err == nil {
			return nil
		}
		err = fmt.Errorf("email service: attempt %d of %d: %w", attempt+1, p.retries+1, err)
		if attempt == p.retries || !retryNow(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
		}
		delay = min(2*delay, httpEmailMaxRetryDelay)
	}
}

// providerStatusError is a non-2xx answer of an HTTP provider. It carries
// only the status: a response body might echo the code it was sent.
type providerStatusError struct {
	endpoint string
	status   int
}

func (e *providerStatusError) Error() string {
	return fmt.Sprintf("POST %s: HTTP %d %s", e.endpoint, e.status, http.StatusText(e.status))
}

// retryNow reports whether a transient failure is worth retrying within the
// same Deliver call. A 429 is not: the service asked for less traffic, and
// the outbox's backoff is the way to give it that.
func retryNow(err error) bool {
	if IsPermanent(err) {
		return false
	}
	var se *providerStatusError
	return !errors.As(err, &se) || se.status != http.StatusTooManyRequests
}

// providerResponseLimit bounds how much of a response is read: only the
// status matters, but draining a small body lets the connection be reused.
const providerResponseLimit = 64 << 10

// providerPost POSTs a JSON body and classifies the outcome: nil on 2xx, a
// Permanent error on 4xx other than 408 and 429, a transient error
// otherwise. id, when set, goes out as Idempotency-Key so that the receiver
// can recognise a message that a retry sends again.
func providerPost(ctx context.Context, client *http.Client, endpoint string, headers http.Header, id string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	for k, v := range headers {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "authd")
	if id != "" {
		req.Header.Set("Idempotency-Key", id)
	}
	resp, err := client.Do(req)
	if err != nil {
		// *url.Error names the method and URL; a password in the URL is
		// already redacted by net/url.
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, providerResponseLimit))
	_ = resp.Body.Close()

	switch s := resp.StatusCode; {
	case s >= 200 && s < 300:
		return nil
	case s == http.StatusRequestTimeout || s == http.StatusTooManyRequests:
		return &providerStatusError{endpoint: redactedURL(endpoint), status: s}
	case s >= 400 && s < 500:
		return Permanent(&providerStatusError{endpoint: redactedURL(endpoint), status: s})
	default:
		// 5xx, and a 1xx or 3xx that a sane service never sends: most
		// likely a proxy or a misconfiguration that can be fixed, so the
		// message is kept.
		return &providerStatusError{endpoint: redactedURL(endpoint), status: s}
	}
}

// providerURL parses an absolute http(s) URL.
func providerURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		// url.Error quotes the input, password included.
		return nil, errors.New("not a valid URL")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q is not an absolute http(s) URL", u.Redacted())
	}
	return u, nil
}

// redactedURL hides a password in a URL before it goes into an error.
func redactedURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "[invalid URL]"
	}
	return u.Redacted()
}

// defaultProviderTimeout is the seed's email.timeout.
const defaultProviderTimeout = 30 * time.Second

func providerTimeout(d time.Duration) (time.Duration, error) {
	switch {
	case d == 0:
		return defaultProviderTimeout, nil
	case d < 0:
		return 0, fmt.Errorf("timeout %v is negative", d)
	}
	return d, nil
}

// providerHTTPClient returns c, or a client that does not follow redirects:
// Go forwards custom headers such as X-API-Key, and the request body, to
// wherever a redirect points.
func providerHTTPClient(c *http.Client) *http.Client {
	if c != nil {
		return c
	}
	return &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func redactIfSet(s string) string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}
