package challenge_test

import (
	"testing"

	"github.com/authd/authd/challenge"
	"github.com/authd/authd/challenge/challengetest"
	"github.com/authd/authd/internal/testenv"
)

func TestMemoryStore(t *testing.T) {
	challengetest.Run(t, func(t *testing.T) challenge.Store {
		return challenge.NewMemoryStore()
	})
}

func TestRedisStore(t *testing.T) {
	challengetest.Run(t, newRedisStore)
}

func newRedisStore(t *testing.T) challenge.Store {
	client, prefix := testenv.Redis(t)
	return challenge.NewRedisStore(client, prefix)
}
