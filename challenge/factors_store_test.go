package challenge_test

import (
	"testing"

	"github.com/authd/authd/challenge"
	"github.com/authd/authd/challenge/factorstest"
	"github.com/authd/authd/internal/testenv"
)

func TestFactorMemoryStore(t *testing.T) {
	factorstest.Run(t, func(*testing.T) challenge.FactorStore { return challenge.NewFactorMemoryStore() })
}

func TestFactorPostgresStore(t *testing.T) {
	factorstest.Run(t, func(t *testing.T) challenge.FactorStore { return challenge.NewFactorPostgresStore(testenv.Postgres(t)) })
}
