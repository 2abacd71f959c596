package challenge

import (
	"context"
	"errors"
	"time"
)

// ErrConflict is returned by a [FactorStore] when a write would overturn
// state it must not: setting up a new TOTP secret while one is enabled.
var ErrConflict = errors.New("challenge: conflict")

// TOTPRecord is a user's TOTP factor as stored. The secret is sealed by
// [Factors]; a store never sees it in the clear.
type TOTPRecord struct {
	UserID       string
	SecretSealed []byte
	// EnabledAt is zero while the factor is pending: set up but not yet
	// proven with a code.
	EnabledAt time.Time
	// LastStep is the highest RFC 6238 time step accepted so far.
	LastStep int64
}

// Enabled reports whether the factor has been proven and is in use.
func (r TOTPRecord) Enabled() bool { return !r.EnabledAt.IsZero() }

// FactorStore keeps second factors: at most one TOTP factor per user and
// that user's recovery codes (as hashes). Recovery codes exist only while
// the factor is enabled: EnableTOTP creates them, DeleteTOTP removes them,
// and ReplaceRecoveryCodes refuses a user without an enabled factor.
//
// Implementations: [FactorMemoryStore] (embedded default) and
// [FactorPostgresStore]; both pass factorstest.Run. User IDs are UUIDs; an
// ID that is not one is simply never found.
type FactorStore interface {
	// PutPendingTOTP stores a new, not yet enabled secret for userID,
	// replacing a pending one. ErrConflict if the user's factor is enabled.
	PutPendingTOTP(ctx context.Context, userID string, sealed []byte, now time.Time) error
	// GetTOTP returns the user's factor, pending or enabled. ErrNotFound
	// when there is none.
	GetTOTP(ctx context.Context, userID string) (TOTPRecord, error)
	// EnableTOTP atomically enables the pending factor, provided its secret
	// is still sealed (the one the caller checked a code against and not a
	// newer one from a concurrent set-up), sets its last step to step and
	// replaces the user's recovery codes with recoveryHashes. ErrNotFound
	// when no such pending factor exists.
	EnableTOTP(ctx context.Context, userID string, sealed []byte, step int64, recoveryHashes [][]byte, now time.Time) error
	// AdvanceTOTPStep atomically records step as the last step of the
	// user's enabled factor if it is greater than the current one, and
	// reports whether it did. false means a replayed or older code, or no
	// enabled factor: of concurrent callers with one step, exactly one wins.
	AdvanceTOTPStep(ctx context.Context, userID string, step int64) (bool, error)
	// DeleteTOTP removes the user's factor, pending or enabled, and every
	// recovery code. Deleting nothing is not an error.
	DeleteTOTP(ctx context.Context, userID string) error
	// ReplaceRecoveryCodes atomically replaces every recovery code of the
	// user with hashes (duplicates count once). ErrNotFound unless the
	// user's factor is enabled.
	ReplaceRecoveryCodes(ctx context.Context, userID string, hashes [][]byte, now time.Time) error
	// ConsumeRecoveryCode deletes the code with hash and reports whether it
	// did: of concurrent consumers of one code exactly one wins.
	ConsumeRecoveryCode(ctx context.Context, userID string, hash []byte) (bool, error)
	// CountRecoveryCodes returns how many unused recovery codes the user has.
	CountRecoveryCodes(ctx context.Context, userID string) (int, error)
}
