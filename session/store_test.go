package session_test

import (
	"testing"

	"github.com/authd/authd/internal/testenv"
	"github.com/authd/authd/session"
	"github.com/authd/authd/session/sessiontest"
)

func TestMemoryStore(t *testing.T) {
	sessiontest.Run(t, func(*testing.T) session.Store { return session.NewMemoryStore() })
}

func TestPostgresStore(t *testing.T) {
	sessiontest.Run(t, func(t *testing.T) session.Store { return session.NewPostgresStore(testenv.Postgres(t)) })
}
