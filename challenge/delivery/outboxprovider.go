package delivery

import (
	"context"

	"github.com/authd/authd/challenge"
)

// OutboxProvider delivers to the development outbox, which logs messages
// and lists them at GET /debug/outbox: the provider of the embedded default.
type OutboxProvider struct {
	Outbox *challenge.Outbox
}

// Deliver implements Provider.
func (p OutboxProvider) Deliver(ctx context.Context, e Envelope) error {
	return p.Outbox.Send(ctx, challenge.Message{
		Channel: e.Channel, To: e.To, Template: e.Template, Subject: e.Subject, Body: e.Text, Variables: e.Variables,
	})
}
