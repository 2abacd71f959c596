package session

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// maxReplaySteps bounds the walk from a replayed token to the live one. A
// client retrying a request is a step or two behind; a family rotated this
// often inside the grace window is not a retry worth serving.
const maxReplaySteps = 16

// Refresh rotates token for clientID, the client presenting it: it returns
// the session and the token that replaces the presented one. A token is
// bound to the client its session was started for; presented by another
// client it buys nothing and, if live, stays live for its owner. A rotated
// token presented again by the session's client within the reuse grace
// window is a concurrent retry and gets the family's current live token;
// later, or by another client, it is reuse: the family is revoked and
// [ErrReused] returned. Unknown, expired, idle and revoked tokens, and live
// tokens of another client, are [ErrInvalidToken].
func (m *Manager) Refresh(ctx context.Context, token, clientID string) (Session, string, error) {
	if len(token) == 0 || len(token) > maxTokenLen {
		return Session{}, "", ErrInvalidToken
	}
	now := m.clock()
	presented := hashToken(token)
	next := successor(m.secret, token)
	s, err := m.store.RotateRefreshToken(ctx, presented, hashToken(next), clientID, now, m.idle)
	if err == nil {
		return s, next, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return Session{}, "", fmt.Errorf("refresh: %w", err)
	}
	return m.refused(ctx, token, clientID, presented, now)
}

// refused finds out why the store would not rotate token: the rare path, so
// it may take more round trips.
func (m *Manager) refused(ctx context.Context, token, clientID string, presented []byte, now time.Time) (Session, string, error) {
	rec, s, err := m.store.GetRefreshToken(ctx, presented)
	switch {
	case errors.Is(err, ErrNotFound):
		return Session{}, "", ErrInvalidToken
	case err != nil:
		return Session{}, "", fmt.Errorf("refresh: %w", err)
	case !s.Active(now, m.idle):
		return Session{}, "", ErrInvalidToken
	case rec.RotatedAt.IsZero():
		// The live token of an active session: presented by another client
		// (stolen, or a misrouted request), it is refused and the family
		// left alone, so that its client keeps refreshing (RFC 6749
		// section 6 asks for the binding, not for revocation). Presented by
		// its own client, the records disagree, and guessing could issue a
		// second live token.
		return Session{}, "", ErrInvalidToken
	case s.ClientID != clientID:
		// A rotated token in another client's hands is a copy of the family
		// outside its client, whenever it shows up: reuse, not a retry, so
		// the grace window is not for it and it goes on to the revocation
		// below. That lets the holder of a stale stolen token end the
		// session, which is the safe way to fail.
	case m.grace > 0 && now.Sub(rec.RotatedAt) <= m.grace:
		// A concurrent winner may have read its clock after ours, so a
		// rotation "in the future" is a retry too.
		return m.replay(ctx, token, rec, s, now)
	}
	if err := m.store.RevokeSession(ctx, s.ID, "reuse", now); err != nil {
		return Session{}, "", fmt.Errorf("refresh: revoke reused family: %w", err)
	}
	return Session{}, "", ErrReused
}

// replay answers a retry with the family's live token, recomputed by walking
// the derivation from the presented token; nothing is rotated.
func (m *Manager) replay(ctx context.Context, token string, rec RefreshToken, s Session, now time.Time) (Session, string, error) {
	steps := s.Generation - rec.Generation
	if steps > maxReplaySteps {
		return Session{}, "", ErrInvalidToken
	}
	live := token
	for range steps {
		live = successor(m.secret, live)
	}
	lrec, ls, err := m.store.GetRefreshToken(ctx, hashToken(live))
	if errors.Is(err, ErrNotFound) {
		// The family was rotated under another secret: we cannot name its
		// live token, but that is no sign of theft.
		return Session{}, "", ErrInvalidToken
	}
	if err != nil {
		return Session{}, "", fmt.Errorf("refresh: look up live token: %w", err)
	}
	if !lrec.RotatedAt.IsZero() || lrec.SessionID != s.ID || lrec.Generation != ls.Generation || !ls.Active(now, m.idle) {
		// Rotated again since we looked, or revoked meanwhile.
		return Session{}, "", ErrInvalidToken
	}
	return ls, live, nil
}
