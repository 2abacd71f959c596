package challenge_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/authd/authd/challenge"
	"github.com/authd/authd/internal/testenv"
)

// A Redis that cannot answer must never look like an absent or mismatched
// record: callers fail closed only if they get an error.
func TestRedisStoreErrorsAreNotNotFound(t *testing.T) {
	opt, err := rueidis.ParseURL(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	client, err := rueidis.NewClient(opt)
	if err != nil {
		t.Fatal(err)
	}
	client.Close()
	s := challenge.NewRedisStore(client, testenv.Prefix(t))
	ctx := context.Background()

	if err := s.Put(ctx, "k", challenge.Record{Hash: []byte("h")}, time.Minute); err == nil {
		t.Error("Put on a closed client: no error")
	}
	if _, err := s.Attempt(ctx, "k"); err == nil || errors.Is(err, challenge.ErrNotFound) {
		t.Errorf("Attempt on a closed client: error = %v, want a non-ErrNotFound error", err)
	}
	if ok, err := s.Consume(ctx, "k", []byte("h")); err == nil || ok {
		t.Errorf("Consume on a closed client = %v, %v; want false and an error", ok, err)
	}
	if err := s.Delete(ctx, "k"); err == nil {
		t.Error("Delete on a closed client: no error")
	}
}
