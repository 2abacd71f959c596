package challenge_test

import (
	"bytes"
	"context"
	"encoding/base32"
	"errors"
	"fmt"
	"image/png"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pquerna/otp"

	"github.com/authd/authd/challenge"
)

// Only the current step and one either side are accepted.
func TestTOTPWindow(t *testing.T) {
	forEachFactorStore(t, func(t *testing.T, store challenge.FactorStore) {
		clock := newFactorClock()
		f := newFactors(t, store, clock)
		for _, tc := range []struct {
			offset int64
			want   error
		}{
			{-2, challenge.ErrInvalidCode},
			{-1, nil},
			{0, nil},
			{+1, nil},
			{+2, challenge.ErrInvalidCode},
		} {
			u := newUser(t)
			secret, _ := enable(t, f, clock, u)
			// Move well past the step Enable used, so only the window
			// decides.
			clock.Advance(10 * time.Minute)
			err := f.VerifyTOTP(context.Background(), u, codeAt(t, secret, clock.Now(), tc.offset))
			if !errors.Is(err, tc.want) {
				t.Errorf("code of step %+d: VerifyTOTP = %v, want %v", tc.offset, err, tc.want)
			}
		}
	})
}

func TestTOTPAcceptedOnce(t *testing.T) {
	forEachFactorStore(t, func(t *testing.T, store challenge.FactorStore) {
		ctx, clock, u := context.Background(), newFactorClock(), newUser(t)
		f := newFactors(t, store, clock)
		secret, _ := enable(t, f, clock, u)

		// The code that enabled the factor cannot log in, although it is
		// in the window.
		wantErr(t, "VerifyTOTP(code used by Enable)", f.VerifyTOTP(ctx, u, codeAt(t, secret, clock.Now(), 0)), challenge.ErrInvalidCode)

		clock.Advance(time.Minute) // two steps on
		steps := []struct {
			name   string
			offset int64
			want   error
		}{
			{"fresh code", 0, nil},
			{"same code again", 0, challenge.ErrInvalidCode},
			{"next step's code", +1, nil},
			{"older step after a newer one", -1, challenge.ErrInvalidCode},
			{"current step after a newer one", 0, challenge.ErrInvalidCode},
		}
		for _, st := range steps {
			err := f.VerifyTOTP(ctx, u, codeAt(t, secret, clock.Now(), st.offset))
			if !errors.Is(err, st.want) {
				t.Fatalf("%s: VerifyTOTP = %v, want %v", st.name, err, st.want)
			}
		}
		clock.Advance(time.Minute)
		if err := f.VerifyTOTP(ctx, u, codeAt(t, secret, clock.Now(), 0)); err != nil {
			t.Fatalf("a later step's code: VerifyTOTP = %v, want nil", err)
		}
	})
}

// Of concurrent logins with one code, exactly one gets in.
func TestTOTPConcurrentVerify(t *testing.T) {
	forEachFactorStore(t, func(t *testing.T, store challenge.FactorStore) {
		clock, u := newFactorClock(), newUser(t)
		f := newFactors(t, store, clock)
		secret, _ := enable(t, f, clock, u)
		clock.Advance(time.Minute)
		code := codeAt(t, secret, clock.Now(), 0)
		var (
			wg            sync.WaitGroup
			wins, invalid atomic.Int32
			start         = make(chan struct{})
		)
		const n = 20
		for range n {
			wg.Go(func() {
				<-start
				switch err := f.VerifyTOTP(context.Background(), u, code); {
				case err == nil:
					wins.Add(1)
				case errors.Is(err, challenge.ErrInvalidCode):
					invalid.Add(1)
				default:
					t.Errorf("VerifyTOTP: %v", err)
				}
			})
		}
		close(start)
		wg.Wait()
		if wins.Load() != 1 || invalid.Load() != n-1 {
			t.Fatalf("%d accepted, %d refused of %d concurrent verifications, want 1 and %d", wins.Load(), invalid.Load(), n, n-1)
		}
	})
}

// oathtool (OATH Toolkit) is an independent TOTP implementation: codes it
// computes from the set-up secret must enable and verify.
func TestTOTPMatchesOathtool(t *testing.T) {
	bin, err := exec.LookPath("oathtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("oathtool not found: CI must run this test (apt-get install oathtool)")
		}
		t.Skip("oathtool not found; install it with: apt-get install oathtool")
	}
	oathtool := func(t *testing.T, secret string, at time.Time) string {
		t.Helper()
		out, err := exec.Command(bin, "--totp", "-b", secret, "--now", at.UTC().Format("2006-01-02 15:04:05 UTC")).Output()
		if err != nil {
			t.Fatalf("oathtool: %v", err)
		}
		return strings.TrimSpace(string(out))
	}
	forEachFactorStore(t, func(t *testing.T, store challenge.FactorStore) {
		ctx, clock, u := context.Background(), newFactorClock(), newUser(t)
		f := newFactors(t, store, clock)
		s := setup(t, f, u)
		if _, err := f.Enable(ctx, u, oathtool(t, s.Secret, clock.Now())); err != nil {
			t.Fatalf("Enable with oathtool's code: %v", err)
		}
		for range 3 {
			clock.Advance(95 * time.Second)
			if err := f.VerifyTOTP(ctx, u, oathtool(t, s.Secret, clock.Now())); err != nil {
				t.Fatalf("VerifyTOTP with oathtool's code at %v: %v", clock.Now(), err)
			}
		}
	})
}

func TestTOTPRefusesMalformedCodes(t *testing.T) {
	ctx, clock, u := context.Background(), newFactorClock(), newUser(t)
	f := newFactors(t, challenge.NewFactorMemoryStore(), clock)
	secret, _ := enable(t, f, clock, u)
	clock.Advance(time.Minute)
	good := codeAt(t, secret, clock.Now(), 0)
	for _, code := range []string{
		"", good[:5], good + "0", " " + good, good + "\n", good[:3] + " " + good[3:],
		"12345a", "１２３４５６", "-12345", "+12345",
	} {
		wantErr(t, "VerifyTOTP("+code+")", f.VerifyTOTP(ctx, u, code), challenge.ErrInvalidCode)
	}
	if err := f.VerifyTOTP(ctx, u, good); err != nil {
		t.Fatalf("VerifyTOTP(good) after malformed ones: %v", err)
	}
}

func TestVerifyTOTPWithoutEnabledFactor(t *testing.T) {
	forEachFactorStore(t, func(t *testing.T, store challenge.FactorStore) {
		ctx, clock := context.Background(), newFactorClock()
		f := newFactors(t, store, clock)
		wantErr(t, "VerifyTOTP without a factor", f.VerifyTOTP(ctx, newUser(t), "123456"), challenge.ErrInvalidCode)
		wantErr(t, "VerifyTOTP for a malformed user ID", f.VerifyTOTP(ctx, "not-a-uuid", "123456"), challenge.ErrInvalidCode)
		u := newUser(t)
		s := setup(t, f, u)
		wantErr(t, "VerifyTOTP with a pending factor", f.VerifyTOTP(ctx, u, codeAt(t, s.Secret, clock.Now(), 0)), challenge.ErrInvalidCode)
	})
}

func TestEnable(t *testing.T) {
	forEachFactorStore(t, func(t *testing.T, store challenge.FactorStore) {
		ctx, clock, u := context.Background(), newFactorClock(), newUser(t)
		f := newFactors(t, store, clock)

		_, err := f.Enable(ctx, u, "123456")
		wantErr(t, "Enable without Setup", err, challenge.ErrNoPendingTOTP)

		s := setup(t, f, u)
		good := codeAt(t, s.Secret, clock.Now(), 0)
		wrong := []string{
			codeAt(t, s.Secret, clock.Now(), -2),
			codeAt(t, s.Secret, clock.Now(), +2),
			wrongCode(good),
			"abcdef",
			good[:5],
		}
		for _, code := range wrong {
			_, err := f.Enable(ctx, u, code)
			wantErr(t, "Enable("+code+")", err, challenge.ErrInvalidCode)
		}
		if enabled(t, f, u) {
			t.Fatal("Enabled after wrong codes = true")
		}
		// A wrong code leaves the set-up pending.
		codes, err := f.Enable(ctx, u, good)
		if err != nil {
			t.Fatalf("Enable(good): %v", err)
		}
		if len(codes) != 10 {
			t.Fatalf("Enable returned %d recovery codes, want 10", len(codes))
		}
		if !enabled(t, f, u) {
			t.Fatal("Enabled after Enable = false")
		}
		_, err = f.Enable(ctx, u, codeAt(t, s.Secret, clock.Now(), 1))
		wantErr(t, "second Enable", err, challenge.ErrTOTPAlreadyEnabled)
	})
}

// wrongCode returns a well-formed code that differs from code.
func wrongCode(code string) string {
	b := []byte(code)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}

// Setting up again before enabling replaces the pending secret: only the
// latest one, which the user last scanned, can be enabled.
func TestSetupTwiceReplacesPending(t *testing.T) {
	forEachFactorStore(t, func(t *testing.T, store challenge.FactorStore) {
		ctx, clock, u := context.Background(), newFactorClock(), newUser(t)
		f := newFactors(t, store, clock)
		first, second := setup(t, f, u), setup(t, f, u)
		if first.Secret == second.Secret {
			t.Fatal("two set-ups returned the same secret")
		}
		_, err := f.Enable(ctx, u, codeAt(t, first.Secret, clock.Now(), 0))
		wantErr(t, "Enable with the replaced secret's code", err, challenge.ErrInvalidCode)
		if _, err := f.Enable(ctx, u, codeAt(t, second.Secret, clock.Now(), 0)); err != nil {
			t.Fatalf("Enable with the latest secret's code: %v", err)
		}
	})
}

func TestSetupWhenEnabled(t *testing.T) {
	forEachFactorStore(t, func(t *testing.T, store challenge.FactorStore) {
		ctx, clock, u := context.Background(), newFactorClock(), newUser(t)
		f := newFactors(t, store, clock)
		secret, _ := enable(t, f, clock, u)
		_, err := f.Setup(ctx, u, "alice@example.com")
		wantErr(t, "Setup with TOTP enabled", err, challenge.ErrTOTPAlreadyEnabled)
		clock.Advance(time.Minute)
		if err := f.VerifyTOTP(ctx, u, codeAt(t, secret, clock.Now(), 0)); err != nil {
			t.Fatalf("the enabled secret stopped working after a refused Setup: %v", err)
		}
	})
}

func TestSetupRefusesEmptyNames(t *testing.T) {
	f := newFactors(t, challenge.NewFactorMemoryStore(), newFactorClock())
	if _, err := f.Setup(context.Background(), newUser(t), ""); err == nil {
		t.Error("Setup with an empty account name: no error")
	}
	if _, err := f.Setup(context.Background(), "", "alice@example.com"); err == nil {
		t.Error("Setup with an empty user ID: no error")
	}
}

func TestSetupURI(t *testing.T) {
	f := newFactors(t, challenge.NewFactorMemoryStore(), newFactorClock())
	const account = "alice+totp@example.com"
	s, err := f.Setup(context.Background(), newUser(t), account)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s.Secret)
	if err != nil || len(raw) != 20 || strings.Contains(s.Secret, "=") {
		t.Fatalf("Secret %d characters: decodes to %d bytes (%v), want 20 bytes of unpadded base32", len(s.Secret), len(raw), err)
	}

	u, err := url.Parse(s.URI)
	if err != nil {
		t.Fatalf("parse URI: %v", err)
	}
	q := u.Query()
	if u.Scheme != "otpauth" || u.Host != "totp" || u.Path != "/"+issuer+":"+account {
		t.Errorf("URI %s://%s%s, want otpauth://totp/%s:%s", u.Scheme, u.Host, u.Path, issuer, account)
	}
	for k, want := range map[string]string{
		"secret": s.Secret, "issuer": issuer, "algorithm": "SHA1", "digits": "6", "period": "30",
	} {
		if got := q.Get(k); got != want {
			t.Errorf("URI %s = %q, want %q", k, got, want)
		}
	}

	// And as an authenticator app's library reads it.
	key, err := otp.NewKeyFromURL(s.URI)
	if err != nil {
		t.Fatal(err)
	}
	if key.Type() != "totp" || key.Issuer() != issuer || key.AccountName() != account || key.Secret() != s.Secret ||
		key.Period() != 30 || key.Digits() != otp.DigitsSix || key.Algorithm() != otp.AlgorithmSHA1 {
		t.Errorf("key from URI: type %s issuer %q account %q period %d digits %d algorithm %s",
			key.Type(), key.Issuer(), key.AccountName(), key.Period(), key.Digits(), key.Algorithm())
	}
}

func TestSetupQRCode(t *testing.T) {
	f := newFactors(t, challenge.NewFactorMemoryStore(), newFactorClock())
	s := setup(t, f, newUser(t))
	if ct := http.DetectContentType(s.QRPNG); ct != "image/png" {
		t.Fatalf("QRPNG content type = %s, want image/png", ct)
	}
	img, err := png.Decode(bytes.NewReader(s.QRPNG))
	if err != nil {
		t.Fatalf("decode QRPNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 256 || b.Dy() != 256 {
		t.Fatalf("QR image is %dx%d, want 256x256", b.Dx(), b.Dy())
	}
}

// The store holds only the sealed secret: neither its bytes nor its base32
// form appear in it.
func TestTOTPSecretIsSealed(t *testing.T) {
	forEachFactorStore(t, func(t *testing.T, store challenge.FactorStore) {
		u := newUser(t)
		f := newFactors(t, store, newFactorClock())
		s := setup(t, f, u)
		rec, err := store.GetTOTP(context.Background(), u)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s.Secret)
		for _, plain := range [][]byte{raw, []byte(s.Secret), []byte(strings.ToLower(s.Secret))} {
			if bytes.Contains(rec.SecretSealed, plain) {
				t.Fatalf("SecretSealed contains the secret in the clear (%d bytes)", len(plain))
			}
		}
		// 12-byte nonce, 20-byte secret, 16-byte tag.
		if len(rec.SecretSealed) != 12+20+16 {
			t.Fatalf("SecretSealed is %d bytes, want %d", len(rec.SecretSealed), 12+20+16)
		}
	})
}

// A sealed secret opens only under its key and for its user. Either failure
// is an error, never ErrInvalidCode: it is a misconfiguration or tampering,
// not a wrong guess.
func TestTOTPSecretNeedsKeyAndUser(t *testing.T) {
	forEachFactorStore(t, func(t *testing.T, store challenge.FactorStore) {
		ctx, clock := context.Background(), newFactorClock()
		f := newFactors(t, store, clock)
		alice, bob, carol := newUser(t), newUser(t), newUser(t)
		aliceSecret, _ := enable(t, f, clock, alice)
		bobSetup := setup(t, f, bob)

		other, err := challenge.NewFactors(store, bytes.Repeat([]byte("o"), 32), issuer, challenge.FactorClock(clock.Now))
		if err != nil {
			t.Fatal(err)
		}
		_, err = other.Enable(ctx, bob, codeAt(t, bobSetup.Secret, clock.Now(), 0))
		wantFailClosed(t, "Enable under another key", err)
		clock.Advance(time.Minute)
		wantFailClosed(t, "VerifyTOTP under another key", other.VerifyTOTP(ctx, alice, codeAt(t, aliceSecret, clock.Now(), 0)))

		// Alice's sealed secret copied to Carol's row does not open.
		rec, err := store.GetTOTP(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		if err := store.PutPendingTOTP(ctx, carol, rec.SecretSealed, clock.Now()); err != nil {
			t.Fatal(err)
		}
		_, err = f.Enable(ctx, carol, codeAt(t, aliceSecret, clock.Now(), 0))
		wantFailClosed(t, "Enable with another user's sealed secret", err)

		// The right key still opens Alice's.
		if err := f.VerifyTOTP(ctx, alice, codeAt(t, aliceSecret, clock.Now(), 0)); err != nil {
			t.Fatalf("VerifyTOTP under the right key: %v", err)
		}
	})
}

func TestTOTPSetupIsRedacted(t *testing.T) {
	f := newFactors(t, challenge.NewFactorMemoryStore(), newFactorClock())
	s := setup(t, f, newUser(t))
	var buf bytes.Buffer
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		buf.Reset()
		fmt.Fprintf(&buf, verb, s)
		if strings.Contains(buf.String(), s.Secret) {
			t.Fatalf("%s of TOTPSetup prints the secret", verb)
		}
	}
	buf.Reset()
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("set up", "setup", s)
	if strings.Contains(buf.String(), s.Secret) {
		t.Fatal("slog prints TOTPSetup's secret")
	}
}
