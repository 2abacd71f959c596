package identity

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/sync/semaphore"
	"golang.org/x/text/unicode/norm"

	"github.com/authd/authd/internal/random"
)

// ErrInvalidHash is returned for a stored hash that is malformed or of an
// unsupported algorithm. Its wrapping message never contains the hash.
var ErrInvalidHash = errors.New("identity: invalid or unsupported password hash")

// HashParams are the argon2id cost parameters of new hashes. A stored hash
// with other parameters still verifies, and is reported for re-hashing.
type HashParams struct {
	Memory      uint32 // KiB
	Iterations  uint32
	Parallelism uint8
}

// DefaultHashParams returns OWASP's recommended argon2id configuration
// (19 MiB, 2 passes, 1 lane): some tens of milliseconds on one core.
func DefaultHashParams() HashParams {
	return HashParams{Memory: 19 * 1024, Iterations: 2, Parallelism: 1}
}

// maxHashMemory bounds the memory a stored (possibly imported) hash may ask
// for, so one bad row cannot exhaust the process: 1 GiB.
const maxHashMemory = 1 << 20

func (p HashParams) validate() error {
	switch {
	case p.Iterations < 1:
		return errors.New("argon2id iterations must be at least 1")
	case p.Parallelism < 1:
		return errors.New("argon2id parallelism must be at least 1")
	case p.Memory < 8*uint32(p.Parallelism):
		return errors.New("argon2id memory must be at least 8 KiB per lane")
	case p.Memory > maxHashMemory:
		return fmt.Errorf("argon2id memory must be at most %d KiB", maxHashMemory)
	}
	return nil
}

// Salt and key sizes of new hashes (RFC 9106 recommends 16 and 32 bytes).
// Stored hashes may differ within the bounds below, which guard against a
// tag so short that guessing it beats guessing the password.
const (
	saltLength    = 16
	keyLength     = 32
	minSaltLength = 8
	minKeyLength  = 16
)

const argon2idPrefix = "$argon2id$"

// b64 is the PHC string format's base64: standard alphabet, no padding.
var b64 = base64.RawStdEncoding

// Hasher hashes passwords into PHC strings and verifies them. Every hash
// and verification holds one of a fixed number of slots, so a flood of
// password logins queues here instead of starving the rest of the server
// of CPU and memory.
type Hasher struct {
	params HashParams
	slots  *semaphore.Weighted
}

// NewHasher returns a Hasher that makes argon2id hashes with params and
// runs at most concurrency hash computations at once (runtime.NumCPU() when
// concurrency <= 0).
func NewHasher(params HashParams, concurrency int) (*Hasher, error) {
	if err := params.validate(); err != nil {
		return nil, fmt.Errorf("new password hasher: %w", err)
	}
	if concurrency <= 0 {
		concurrency = runtime.NumCPU()
	}
	return &Hasher{params: params, slots: semaphore.NewWeighted(int64(concurrency))}, nil
}

// Hash returns the argon2id PHC string of the NFKC form of password.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	salt, err := random.Bytes(nil, saltLength)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	if err := h.acquire(ctx); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	defer h.slots.Release(1)
	key := argon2idKey(password, h.params, salt, keyLength)
	return fmt.Sprintf("%sv=%d$m=%d,t=%d,p=%d$%s$%s", argon2idPrefix, argon2.Version,
		h.params.Memory, h.params.Iterations, h.params.Parallelism,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify reports whether password matches the PHC string phc (argon2id,
// or bcrypt from an import) and, when it does, whether phc should be
// replaced by a new Hash of the password: bcrypt always (it truncates at 72
// bytes), argon2id when its parameters are not the configured ones. A
// malformed or unsupported phc is an error wrapping ErrInvalidHash; the
// other error is ctx's, when it ends before a slot is free.
func (h *Hasher) Verify(ctx context.Context, phc, password string) (ok, needsRehash bool, err error) {
	switch {
	case strings.HasPrefix(phc, argon2idPrefix):
		return h.verifyArgon2id(ctx, phc, password)
	case strings.HasPrefix(phc, "$2a$"), strings.HasPrefix(phc, "$2b$"), strings.HasPrefix(phc, "$2y$"):
		return h.verifyBcrypt(ctx, phc, password)
	}
	return false, false, fmt.Errorf("verify password: %w: unknown algorithm", ErrInvalidHash)
}

// VerifyDummy does the work of verifying password against a hash made with
// the configured parameters, and discards the result. Callers run it when
// there is no hash to check (unknown user, passwordless account) so the
// answer takes as long as a real one and does not reveal which accounts
// exist. It fails only when ctx ends before a slot is free.
func (h *Hasher) VerifyDummy(ctx context.Context, password string) error {
	if err := h.acquire(ctx); err != nil {
		return fmt.Errorf("verify password: %w", err)
	}
	defer h.slots.Release(1)
	var salt [saltLength]byte
	var key [keyLength]byte
	_ = subtle.ConstantTimeCompare(argon2idKey(password, h.params, salt[:], keyLength), key[:])
	return nil
}

func (h *Hasher) acquire(ctx context.Context) error {
	if err := h.slots.Acquire(ctx, 1); err != nil {
		return fmt.Errorf("wait for a password hashing slot: %w", err)
	}
	return nil
}

func (h *Hasher) verifyArgon2id(ctx context.Context, phc, password string) (ok, needsRehash bool, err error) {
	stored, err := parseArgon2id(phc)
	if err != nil {
		return false, false, fmt.Errorf("verify password: %w", err)
	}
	if err := h.acquire(ctx); err != nil {
		return false, false, fmt.Errorf("verify password: %w", err)
	}
	defer h.slots.Release(1)
	if subtle.ConstantTimeCompare(argon2idKey(password, stored.params, stored.salt, len(stored.key)), stored.key) != 1 {
		return false, false, nil
	}
	return true, stored.params != h.params || len(stored.salt) != saltLength || len(stored.key) != keyLength, nil
}

func (h *Hasher) verifyBcrypt(ctx context.Context, phc, password string) (ok, needsRehash bool, err error) {
	if _, err := bcrypt.Cost([]byte(phc)); err != nil {
		return false, false, fmt.Errorf("verify password: %w: bcrypt: %v", ErrInvalidHash, err)
	}
	if err := h.acquire(ctx); err != nil {
		return false, false, fmt.Errorf("verify password: %w", err)
	}
	defer h.slots.Release(1)
	// bcrypt hashes come from systems that did not normalise, so a password
	// that NFKC changes is also tried as typed (the second try costs time
	// only for such passwords, and says nothing about the account).
	normalised := norm.NFKC.String(password)
	candidates := []string{normalised}
	if normalised != password {
		candidates = append(candidates, password)
	}
	for _, c := range candidates {
		switch err := bcrypt.CompareHashAndPassword([]byte(phc), []byte(c)); {
		case err == nil:
			return true, true, nil
		case !errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
			return false, false, fmt.Errorf("verify password: %w: bcrypt: %v", ErrInvalidHash, err)
		}
	}
	return false, false, nil
}

// argon2idHash is a parsed argon2id PHC string.
type argon2idHash struct {
	params    HashParams
	salt, key []byte
}

// argon2idKey derives the argon2id key of the NFKC form of password.
func argon2idKey(password string, p HashParams, salt []byte, keyLen int) []byte {
	return argon2.IDKey([]byte(norm.NFKC.String(password)), salt, p.Iterations, p.Memory, p.Parallelism, uint32(keyLen))
}

// parseArgon2id reads $argon2id$v=19$m=<m>,t=<t>,p=<p>$<salt>$<key>, the
// form every argon2 implementation writes (parameters in this order).
func parseArgon2id(phc string) (argon2idHash, error) {
	fields := strings.Split(strings.TrimPrefix(phc, argon2idPrefix), "$")
	if len(fields) != 4 {
		return argon2idHash{}, fmt.Errorf("%w: argon2id: want 4 fields after the algorithm, got %d", ErrInvalidHash, len(fields))
	}
	if fields[0] != "v="+strconv.Itoa(argon2.Version) {
		return argon2idHash{}, fmt.Errorf("%w: argon2id: unsupported version %q", ErrInvalidHash, fields[0])
	}
	params, ok := parseArgon2idParams(fields[1])
	if !ok {
		return argon2idHash{}, fmt.Errorf("%w: argon2id: malformed parameters %q", ErrInvalidHash, fields[1])
	}
	if err := params.validate(); err != nil {
		return argon2idHash{}, fmt.Errorf("%w: %v", ErrInvalidHash, err)
	}
	salt, err := b64.DecodeString(fields[2])
	if err != nil || len(salt) < minSaltLength {
		return argon2idHash{}, fmt.Errorf("%w: argon2id: salt is not base64 of at least %d bytes", ErrInvalidHash, minSaltLength)
	}
	key, err := b64.DecodeString(fields[3])
	if err != nil || len(key) < minKeyLength {
		return argon2idHash{}, fmt.Errorf("%w: argon2id: hash is not base64 of at least %d bytes", ErrInvalidHash, minKeyLength)
	}
	return argon2idHash{params: params, salt: salt, key: key}, nil
}

func parseArgon2idParams(s string) (HashParams, bool) {
	fields := strings.Split(s, ",")
	if len(fields) != 3 {
		return HashParams{}, false
	}
	m, mOK := parseParam(fields[0], "m=", 32)
	t, tOK := parseParam(fields[1], "t=", 32)
	p, pOK := parseParam(fields[2], "p=", 8)
	return HashParams{Memory: uint32(m), Iterations: uint32(t), Parallelism: uint8(p)}, mOK && tOK && pOK
}

func parseParam(s, name string, bits int) (uint64, bool) {
	v, ok := strings.CutPrefix(s, name)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(v, 10, bits)
	return n, err == nil
}
