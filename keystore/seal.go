package keystore

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// KEK is the key-encryption key that seals signing keys at rest. It comes
// from configuration, never from the store it protects.
type KEK [32]byte

// errZeroKEK catches the unconfigured case: an all-zero KEK is what an empty
// config field decodes to, not a key anyone chose.
var errZeroKEK = errors.New("key-encryption key is all zero bytes: set a random one (e.g. openssl rand -base64 32)")

// errUnseal is what every failed Open returns. GCM cannot tell a wrong KEK
// from a wrong kid or tampered bytes, so the message names all three.
var errUnseal = errors.New("cannot unseal: wrong key-encryption key, wrong kid or corrupted data")

// ParseKEK decodes a KEK given as base64 (standard or URL alphabet, padded or
// not) or as 64 hex digits; surrounding white space is ignored. The error
// never repeats the input, since that is a secret.
func ParseKEK(s string) (KEK, error) {
	var k KEK
	s = strings.TrimSpace(s)
	if len(s) == 2*len(k) {
		// 64 hex digits are also valid base64 (of 48 bytes), so hex is
		// tried first.
		if _, err := hex.Decode(k[:], []byte(s)); err == nil {
			return k, checkKEK(k)
		}
	}
	for _, enc := range []*base64.Encoding{
		base64.StdEncoding, base64.RawStdEncoding,
		base64.URLEncoding, base64.RawURLEncoding,
	} {
		b, err := enc.DecodeString(s)
		if err == nil && len(b) == len(k) {
			copy(k[:], b)
			clear(b)
			return k, checkKEK(k)
		}
		clear(b)
	}
	return KEK{}, errors.New("parse key-encryption key: want 32 bytes as base64 (44 characters, or 43 unpadded) or 64 hex digits (generate one with: openssl rand -base64 32)")
}

func checkKEK(k KEK) error {
	if k == (KEK{}) {
		return errZeroKEK
	}
	return nil
}

// Seal encrypts plaintext with AES-256-GCM under k, binding it to kid as
// additional data so a sealed key cannot be moved to another row. The
// output is a random 12-byte nonce, the ciphertext and the 16-byte tag.
func (k KEK) Seal(kid string, plaintext []byte) ([]byte, error) {
	aead, err := k.aead()
	if err != nil {
		return nil, err
	}
	return aead.Seal(nil, nil, plaintext, []byte(kid)), nil
}

// Open reverses Seal. It fails, never panics, on short or tampered input, a
// wrong kid or a wrong KEK.
func (k KEK) Open(kid string, sealed []byte) ([]byte, error) {
	aead, err := k.aead()
	if err != nil {
		return nil, err
	}
	plaintext, err := aead.Open(nil, nil, sealed, []byte(kid))
	if err != nil {
		return nil, errUnseal
	}
	return plaintext, nil
}

func (k KEK) aead() (cipher.AEAD, error) {
	block, err := aes.NewCipher(k[:])
	if err != nil {
		return nil, fmt.Errorf("key-encryption key: %w", err)
	}
	// The random-nonce mode draws and prepends the 96-bit nonce itself; a
	// KEK seals only a handful of keys, far below GCM's 2^32 message limit.
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("key-encryption key: %w", err)
	}
	return aead, nil
}

// LogValue keeps the KEK out of structured logs.
func (KEK) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// Format keeps the KEK out of fmt output under every verb: a [32]byte would
// otherwise print its bytes.
func (KEK) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, "[redacted]") }
