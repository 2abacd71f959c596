// Package delivery sends authd's messages without losing any and without
// making a request wait for a provider: messages go into a durable outbox
// (PostgreSQL, or memory on the embedded default) and a worker on any
// instance delivers them through a Provider (an HTTP email service, SMTP, an
// SMS webhook, or the development outbox), retrying with backoff until they
// are sent or abandoned.
//
// It must not import token, identity, session or keystore.
package delivery
