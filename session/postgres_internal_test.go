package session

import (
	"errors"
	"testing"
	"time"

	"github.com/authd/authd/internal/testenv"
)

// While another instance holds the clean-up lock, a batch deletes nothing
// and says so; once it lets go, the batch runs.
func TestPostgresDeleteExpiredBusy(t *testing.T) {
	ctx := t.Context()
	pool := testenv.Postgres(t)
	st := NewPostgresStore(pool)
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	s := Session{
		ID: "0b7e9f4e-8c1d-4a57-9d43-2f6e1b0c5a11", UserID: "6f1c5a52-3b8e-4c1e-9a51-0d2b3c4d5e6f",
		ClientID: "web", AMR: []string{"pwd"}, AuthTime: at, CreatedAt: at, LastUsedAt: at, ExpiresAt: at.Add(time.Hour),
	}
	if err := st.CreateSession(ctx, s, hashToken("t0")); err != nil {
		t.Fatal(err)
	}
	cutoff := at.Add(2 * time.Hour)

	other, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Rollback(ctx) // released below; this covers a test that stops early
	if _, err := other.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, cleanupLock); err != nil {
		t.Fatal(err)
	}
	if n, err := st.DeleteExpired(ctx, cutoff, 0, 10); !errors.Is(err, ErrBusy) || n != 0 {
		t.Errorf("DeleteExpired under another instance's lock = %d, %v; want 0, ErrBusy", n, err)
	}
	if _, err := st.GetSession(ctx, s.ID); err != nil {
		t.Errorf("session after a busy clean-up: %v", err)
	}

	if err := other.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := st.DeleteExpired(ctx, cutoff, 0, 10); err != nil || n != 1 {
		t.Errorf("DeleteExpired after the lock was released = %d, %v; want 1, nil", n, err)
	}
}
