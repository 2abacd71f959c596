package delivery

import (
	"context"
	"errors"

	"github.com/authd/authd/challenge"
)

// Envelope is a message rendered for one recipient, ready for a provider.
// Variables travel too, for providers that render with templates of their
// own (the HTTP email service of seed 000 takes template and variables).
type Envelope struct {
	ID        string
	Channel   challenge.Channel
	To        string
	Template  string
	Locale    string
	Subject   string
	Text      string
	HTML      string
	Variables map[string]string
}

// Provider delivers envelopes of one channel. An error is retried later
// unless it is permanent (see Permanent).
type Provider interface {
	Deliver(ctx context.Context, e Envelope) error
}

// permanentError marks a failure that retrying cannot fix.
type permanentError struct{ err error }

func (p permanentError) Error() string { return p.err.Error() }
func (p permanentError) Unwrap() error { return p.err }

// Permanent marks err as not worth retrying: a 4xx from an email service, a
// recipient the SMTP server refuses. The message is abandoned at once.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}
