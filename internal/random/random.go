// Package random draws secrets and identifiers from a reader that is
// crypto/rand.Reader in production and replaceable in tests.
package random

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"math/big"
)

// Reader is the source every function here reads when given a nil reader.
var Reader io.Reader = rand.Reader

func src(r io.Reader) io.Reader {
	if r == nil {
		return Reader
	}
	return r
}

// Bytes returns n random bytes.
func Bytes(r io.Reader, n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(src(r), b); err != nil {
		return nil, fmt.Errorf("read random bytes: %w", err)
	}
	return b, nil
}

// Token returns n random bytes encoded as unpadded base64url.
func Token(r io.Reader, n int) (string, error) {
	b, err := Bytes(r, n)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// UUID returns a random (version 4) UUID in its canonical text form.
func UUID(r io.Reader) (string, error) {
	b, err := Bytes(r, 16)
	if err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}

// Digits returns n uniformly random decimal digits.
func Digits(r io.Reader, n int) (string, error) {
	out := make([]byte, n)
	ten := big.NewInt(10)
	for i := range out {
		d, err := rand.Int(src(r), ten)
		if err != nil {
			return "", fmt.Errorf("read random digit: %w", err)
		}
		out[i] = byte('0' + d.Int64())
	}
	return string(out), nil
}
