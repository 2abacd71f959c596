package identity_test

import (
	"testing"

	"github.com/authd/authd/identity"
	"github.com/authd/authd/identity/identitytest"
	"github.com/authd/authd/internal/testenv"
)

func TestMemoryStore(t *testing.T) {
	identitytest.Run(t, func(*testing.T) identity.Store { return identity.NewMemoryStore() })
}

func TestPostgresStore(t *testing.T) {
	identitytest.Run(t, func(t *testing.T) identity.Store { return identity.NewPostgresStore(testenv.Postgres(t)) })
}
