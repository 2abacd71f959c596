package keystore_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/authd/authd/keystore"
)

// kekBytes has bytes that encode to '+', '/', '-' and '_' in base64, so the
// alphabets differ.
var kekBytes = func() (b [32]byte) {
	for i := range b {
		b[i] = byte(0xfb + i*7)
	}
	return b
}()

func TestParseKEK(t *testing.T) {
	raw := kekBytes[:]
	for _, tc := range []struct {
		name string
		in   string
	}{
		{"base64 std padded", base64.StdEncoding.EncodeToString(raw)},
		{"base64 std unpadded", base64.RawStdEncoding.EncodeToString(raw)},
		{"base64 url padded", base64.URLEncoding.EncodeToString(raw)},
		{"base64 url unpadded", base64.RawURLEncoding.EncodeToString(raw)},
		{"hex lower", hex.EncodeToString(raw)},
		{"hex upper", strings.ToUpper(hex.EncodeToString(raw))},
		{"surrounding white space", " \t" + base64.StdEncoding.EncodeToString(raw) + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := keystore.ParseKEK(tc.in)
			if err != nil {
				t.Fatalf("ParseKEK: %v", err)
			}
			if got != keystore.KEK(kekBytes) {
				t.Fatal("ParseKEK decoded other bytes")
			}
		})
	}
}

func TestParseKEKRejects(t *testing.T) {
	b33 := append(bytes.Repeat([]byte{0xab}, 32), 1)
	for _, tc := range []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"31 bytes base64", base64.StdEncoding.EncodeToString(b33[:31])},
		{"33 bytes base64", base64.StdEncoding.EncodeToString(b33)},
		{"63 hex digits", hex.EncodeToString(b33[:32])[:63]},
		{"66 hex digits", hex.EncodeToString(b33)},
		{"64 characters, neither hex nor 32 bytes", strings.Repeat("z", 64)},
		{"not base64", "this is not a key, but it is long enough!!!"},
		{"all zero base64", base64.StdEncoding.EncodeToString(make([]byte, 32))},
		{"all zero hex", strings.Repeat("0", 64)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := keystore.ParseKEK(tc.in)
			if err == nil {
				t.Fatal("ParseKEK succeeded, want an error")
			}
			if k != (keystore.KEK{}) {
				t.Error("ParseKEK returned a non-zero KEK with its error")
			}
			if tc.in != "" && strings.Contains(err.Error(), tc.in) {
				t.Errorf("error repeats the secret input: %v", err)
			}
		})
	}
}

func TestSealOpen(t *testing.T) {
	kek := keystore.KEK(kekBytes)
	plaintext := []byte("pkcs8 der stand-in")
	sealed, err := kek.Seal("kid-1", plaintext)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	if want := 12 + len(plaintext) + 16; len(sealed) != want {
		t.Errorf("sealed length %d, want nonce+ciphertext+tag = %d", len(sealed), want)
	}
	if bytes.Contains(sealed, plaintext) {
		t.Error("sealed output contains the plaintext")
	}
	again, err := kek.Seal("kid-1", plaintext)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	if bytes.Equal(sealed[:12], again[:12]) {
		t.Error("two seals used the same nonce")
	}
	got, err := kek.Open("kid-1", sealed)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if !bytes.Equal(got, plaintext) {
		t.Fatalf("Open = %q, want %q", got, plaintext)
	}

	otherKEK := kek
	otherKEK[0] ^= 1
	for _, tc := range []struct {
		name   string
		kek    keystore.KEK
		kid    string
		sealed []byte
	}{
		{"wrong KEK", otherKEK, "kid-1", sealed},
		{"wrong kid", kek, "kid-2", sealed},
		{"empty kid", kek, "", sealed},
		{"truncated tag", kek, "kid-1", sealed[:len(sealed)-1]},
		{"extra byte", kek, "kid-1", append(bytes.Clone(sealed), 0)},
		{"nil", kek, "kid-1", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := tc.kek.Open(tc.kid, tc.sealed); err == nil {
				t.Fatalf("Open succeeded with %q, want an error", got)
			}
		})
	}
	t.Run("every byte flipped", func(t *testing.T) {
		for i := range sealed {
			tampered := bytes.Clone(sealed)
			tampered[i] ^= 0x80
			if _, err := kek.Open("kid-1", tampered); err == nil {
				t.Errorf("Open succeeded with byte %d flipped", i)
			}
		}
	})
	t.Run("shorter than nonce and tag", func(t *testing.T) {
		for n := range 12 + 16 {
			if _, err := kek.Open("kid-1", sealed[:n]); err == nil {
				t.Errorf("Open succeeded on %d bytes", n)
			}
		}
	})
}

func TestKEKRedacted(t *testing.T) {
	kek := keystore.KEK(kekBytes)
	secrets := []string{
		hex.EncodeToString(kekBytes[:8]),
		fmt.Sprint(kekBytes[:4]),
		strings.Trim(fmt.Sprint(kekBytes[:4]), "[]"),
		base64.StdEncoding.EncodeToString(kekBytes[:])[:8],
	}
	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%d", "%q"} {
		outs = append(outs, fmt.Sprintf(verb, kek), fmt.Sprintf(verb, &kek))
	}
	for _, h := range []func(*bytes.Buffer) slog.Handler{
		func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
	} {
		var buf bytes.Buffer
		slog.New(h(&buf)).Info("m", "kek", kek)
		outs = append(outs, buf.String())
	}
	for _, out := range outs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("output %q reveals the KEK", out)
			}
		}
	}
}
