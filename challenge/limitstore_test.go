package challenge_test

import (
	"testing"

	"github.com/authd/authd/challenge"
	"github.com/authd/authd/challenge/limittest"
	"github.com/authd/authd/internal/testenv"
)

func TestLimitMemoryStore(t *testing.T) {
	limittest.Run(t, func(t *testing.T) challenge.LimitStore {
		return challenge.NewLimitMemoryStore()
	})
}

func TestLimitRedisStore(t *testing.T) {
	limittest.Run(t, newLimitRedisStore)
}

func newLimitRedisStore(t *testing.T) challenge.LimitStore {
	client, prefix := testenv.Redis(t)
	return challenge.NewLimitRedisStore(client, prefix)
}
