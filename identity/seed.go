package identity

import (
	"context"
	"errors"
	"fmt"
)

// developmentUsers are the verified accounts the seed system's development
// environment ships with; its README and clients log in with them.
var developmentUsers = []struct{ email, password, name string }{
	{"admin@auth1.dev", "admin123", "Admin"},
	{"user1@auth1.dev", "password123", ""},
	{"user2@auth1.dev", "password123", ""},
	{"user3@auth1.dev", "password123", ""},
}

// SeedDevelopment creates the development accounts that do not exist yet,
// verified, with their well-known passwords (not checked against the
// Policy: they are fixed). An existing account is left as it is, so running
// it at every start is safe. Callers must never run it in production.
func (s *Service) SeedDevelopment(ctx context.Context) error {
	for _, d := range developmentUsers {
		_, err := s.store.GetUserByEmail(ctx, d.email)
		if err == nil {
			continue
		}
		if !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("seed development users: %w", err)
		}
		hash, err := s.hasher.Hash(ctx, d.password)
		if err != nil {
			return fmt.Errorf("seed development user %s: %w", d.email, err)
		}
		u, err := s.newUser(ChannelEmail, d.email, d.name, hash)
		if err != nil {
			return fmt.Errorf("seed development user %s: %w", d.email, err)
		}
		u.EmailVerifiedAt = u.CreatedAt
		// ErrConflict: another instance seeded it first.
		if err := s.store.CreateUser(ctx, u); err != nil && !errors.Is(err, ErrConflict) {
			return fmt.Errorf("seed development user %s: %w", d.email, err)
		}
	}
	return nil
}
