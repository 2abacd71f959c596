package challenge

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/authd/authd/internal/random"
)

// ErrInvalidLink is returned by Peek and Consume for a token that is
// malformed, unknown, already used, replaced by a newer link or expired.
// Callers answer all of them the same way.
var ErrInvalidLink = errors.New("challenge: invalid, used or expired link")

const (
	// linkTokenBytes gives 256-bit tokens, twice the 128 bits below which
	// guessing a live link becomes thinkable.
	linkTokenBytes = 32
	// maxLinkTokenLen bounds what is hashed and looked up. Issued tokens
	// are 43 characters; the slack lets a future, longer token format be
	// rolled out without old instances refusing it unseen.
	maxLinkTokenLen = 256
	defaultLinkTTL  = 4 * time.Hour
)

// Links issues and redeems the tokens of "verify your email" links: one
// live link per user, single-use, with a TTL.
//
// Two records per link live in the Store. link:<hex SHA-256(token)> maps
// the token to the user (Payload), so only a hash of the token is stored;
// an unkeyed hash is enough because a 256-bit random token cannot be found
// by trying candidates against a leaked hash, unlike a six-digit code.
// link-user:<userID> holds the hash of the user's current token (as both
// Hash and Payload) and is the authority on which link is live: Consume
// wins only by compare-and-deleting it, and Peek only accepts the token it
// names. A newer link replaces the pointer in one Put, so it invalidates
// the older one atomically even when two Issues for the same user race;
// deleting the older link record on Issue is only tidying, and a record
// that two racing Issues both leave behind expires unused.
//
// Records are read with Store.Attempt, the Store's only read. The attempt
// counts it keeps are not used: there is nothing to limit, as guessing a
// 256-bit token is hopeless however many tries are allowed.
type Links struct {
	store Store
	ttl   time.Duration
	rand  io.Reader
}

// LinkOption configures Links.
type LinkOption func(*Links)

// LinkTTL sets how long an issued link stays valid (default 4 hours).
func LinkTTL(d time.Duration) LinkOption { return func(l *Links) { l.ttl = d } }

// LinkRandom sets the source tokens are drawn from (default crypto/rand).
func LinkRandom(r io.Reader) LinkOption { return func(l *Links) { l.rand = r } }

// NewLinks returns Links that keep their records in store.
func NewLinks(store Store, opts ...LinkOption) (*Links, error) {
	l := &Links{store: store, ttl: defaultLinkTTL}
	for _, opt := range opts {
		opt(l)
	}
	switch {
	case store == nil:
		return nil, errors.New("challenge: new links: nil store")
	case l.ttl <= 0:
		return nil, fmt.Errorf("challenge: new links: ttl %v is not positive", l.ttl)
	}
	return l, nil
}

// Issue draws a new link token for userID and returns it with its
// lifetime. The user's previous link, if any, stops working.
//
// When Issue fails, the previous link may already have stopped working;
// the user requests another.
func (l *Links) Issue(ctx context.Context, userID string) (token string, ttl time.Duration, err error) {
	if userID == "" {
		return "", 0, errors.New("challenge: issue link: empty user ID")
	}
	token, err = random.Token(l.rand, linkTokenBytes)
	if err != nil {
		return "", 0, fmt.Errorf("challenge: issue link: %w", err)
	}
	hash := linkHash(token)
	ptrKey := linkUserKey(userID)

	prev, err := l.store.Attempt(ctx, ptrKey)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return "", 0, fmt.Errorf("challenge: issue link: read previous link: %w", err)
	case len(prev.Payload) > 0:
		if err := l.store.Delete(ctx, linkKey(prev.Payload)); err != nil {
			return "", 0, fmt.Errorf("challenge: issue link: delete previous link: %w", err)
		}
	}
	// The pointer goes last: writing it is what makes the new link live
	// and the previous one dead.
	if err := l.store.Put(ctx, linkKey(hash), Record{Hash: hash, Payload: []byte(userID)}, l.ttl); err != nil {
		return "", 0, fmt.Errorf("challenge: issue link: %w", err)
	}
	if err := l.store.Put(ctx, ptrKey, Record{Hash: hash, Payload: hash}, l.ttl); err != nil {
		return "", 0, fmt.Errorf("challenge: issue link: %w", err)
	}
	return token, l.ttl, nil
}

// Peek returns the user a live link token belongs to, without using it up:
// mail scanners fetch links, and the page they fetch must leave the link
// for its owner.
func (l *Links) Peek(ctx context.Context, token string) (userID string, err error) {
	hash, rec, err := l.lookup(ctx, token)
	if err != nil {
		return "", err
	}
	userID = string(rec.Payload)
	ptr, err := l.store.Attempt(ctx, linkUserKey(userID))
	if errors.Is(err, ErrNotFound) {
		return "", ErrInvalidLink
	}
	if err != nil {
		return "", fmt.Errorf("challenge: peek link: %w", err)
	}
	if subtle.ConstantTimeCompare(ptr.Hash, hash) != 1 {
		return "", ErrInvalidLink // replaced by a newer link
	}
	return userID, nil
}

// Consume uses up a live link token and returns the user it belongs to: of
// any number of calls with one token, concurrent or not, at most one
// succeeds. Store failures come back as errors other than ErrInvalidLink
// and with no user ID, and may leave the link used up.
func (l *Links) Consume(ctx context.Context, token string) (userID string, err error) {
	hash, rec, err := l.lookup(ctx, token)
	if err != nil {
		return "", err
	}
	userID = string(rec.Payload)
	// Winning the pointer is what proves the link was still the user's
	// current one. The link record is consumed first, so a used token's
	// record goes at once instead of at expiry.
	for _, key := range []string{linkKey(hash), linkUserKey(userID)} {
		ok, err := l.store.Consume(ctx, key, hash)
		if err != nil {
			return "", fmt.Errorf("challenge: consume link: %w", err)
		}
		if !ok {
			return "", ErrInvalidLink
		}
	}
	return userID, nil
}

// lookup finds the link record of token. A malformed token cannot be one
// we issued, so it never reaches the store.
func (l *Links) lookup(ctx context.Context, token string) (hash []byte, rec Record, err error) {
	if !wellFormedLink(token) {
		return nil, Record{}, ErrInvalidLink
	}
	hash = linkHash(token)
	rec, err = l.store.Attempt(ctx, linkKey(hash))
	if errors.Is(err, ErrNotFound) {
		return nil, Record{}, ErrInvalidLink
	}
	if err != nil {
		return nil, Record{}, fmt.Errorf("challenge: look up link: %w", err)
	}
	return hash, rec, nil
}

func linkHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

func linkKey(hash []byte) string { return "link:" + hex.EncodeToString(hash) }

// linkUserKey cannot collide with a linkKey: "link-" is not "link:".
func linkUserKey(userID string) string { return "link-user:" + userID }

// wellFormedLink accepts 1 to maxLinkTokenLen characters of canonical
// unpadded base64url. The alphabet is checked byte by byte because Go's
// base64 decoders skip CR and LF.
func wellFormedLink(token string) bool {
	if token == "" || len(token) > maxLinkTokenLen {
		return false
	}
	for i := 0; i < len(token); i++ {
		c := token[i]
		if (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '_' {
			return false
		}
	}
	_, err := base64.RawURLEncoding.Strict().DecodeString(token)
	return err == nil
}
