package keystore_test

import (
	"testing"

	"github.com/authd/authd/internal/testenv"
	"github.com/authd/authd/keystore"
	"github.com/authd/authd/keystore/keystoretest"
)

func TestMemoryStore(t *testing.T) {
	keystoretest.Run(t, func(*testing.T) keystore.Store { return keystore.NewMemoryStore() })
}

func TestPostgresStore(t *testing.T) {
	keystoretest.Run(t, func(t *testing.T) keystore.Store {
		return keystore.NewPostgresStore(testenv.Postgres(t))
	})
}
