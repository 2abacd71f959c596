package challenge

import (
	"bytes"
	"context"
	"sync"
	"time"
)

// FactorMemoryStore is the embedded FactorStore: one process, lost on exit.
// One mutex makes every method atomic. Slices are copied in and out, so
// callers never share memory with the store.
type FactorMemoryStore struct {
	mu       sync.Mutex
	totp     map[string]TOTPRecord
	recovery map[string]map[string]struct{} // user ID -> set of string(hash)
}

var _ FactorStore = (*FactorMemoryStore)(nil)

// NewFactorMemoryStore returns an empty FactorMemoryStore.
func NewFactorMemoryStore() *FactorMemoryStore {
	return &FactorMemoryStore{
		totp:     make(map[string]TOTPRecord),
		recovery: make(map[string]map[string]struct{}),
	}
}

// PutPendingTOTP implements [FactorStore].
func (s *FactorMemoryStore) PutPendingTOTP(_ context.Context, userID string, sealed []byte, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.totp[userID]; ok && r.Enabled() {
		return ErrConflict
	}
	s.totp[userID] = TOTPRecord{UserID: userID, SecretSealed: bytes.Clone(sealed)}
	return nil
}

// GetTOTP implements [FactorStore].
func (s *FactorMemoryStore) GetTOTP(_ context.Context, userID string) (TOTPRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.totp[userID]
	if !ok {
		return TOTPRecord{}, ErrNotFound
	}
	r.SecretSealed = bytes.Clone(r.SecretSealed)
	return r, nil
}

// EnableTOTP implements [FactorStore].
func (s *FactorMemoryStore) EnableTOTP(_ context.Context, userID string, sealed []byte, step int64, recoveryHashes [][]byte, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.totp[userID]
	if !ok || r.Enabled() || !bytes.Equal(r.SecretSealed, sealed) {
		return ErrNotFound
	}
	r.EnabledAt, r.LastStep = now, step
	s.totp[userID] = r
	s.setRecovery(userID, recoveryHashes)
	return nil
}

// AdvanceTOTPStep implements [FactorStore].
func (s *FactorMemoryStore) AdvanceTOTPStep(_ context.Context, userID string, step int64) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.totp[userID]
	if !ok || !r.Enabled() || r.LastStep >= step {
		return false, nil
	}
	r.LastStep = step
	s.totp[userID] = r
	return true, nil
}

// DeleteTOTP implements [FactorStore].
func (s *FactorMemoryStore) DeleteTOTP(_ context.Context, userID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.totp, userID)
	delete(s.recovery, userID)
	return nil
}

// ReplaceRecoveryCodes implements [FactorStore].
func (s *FactorMemoryStore) ReplaceRecoveryCodes(_ context.Context, userID string, hashes [][]byte, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.totp[userID]; !ok || !r.Enabled() {
		return ErrNotFound
	}
	s.setRecovery(userID, hashes)
	return nil
}

// ConsumeRecoveryCode implements [FactorStore].
func (s *FactorMemoryStore) ConsumeRecoveryCode(_ context.Context, userID string, hash []byte) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	codes := s.recovery[userID]
	if _, ok := codes[string(hash)]; !ok {
		return false, nil
	}
	delete(codes, string(hash))
	return true, nil
}

// CountRecoveryCodes implements [FactorStore].
func (s *FactorMemoryStore) CountRecoveryCodes(_ context.Context, userID string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.recovery[userID]), nil
}

// setRecovery replaces the user's recovery codes. s.mu must be held.
func (s *FactorMemoryStore) setRecovery(userID string, hashes [][]byte) {
	codes := make(map[string]struct{}, len(hashes))
	for _, h := range hashes {
		codes[string(h)] = struct{}{}
	}
	s.recovery[userID] = codes
}
