package challenge

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"image/png"
	"log/slog"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"

	"github.com/authd/authd/internal/random"
)

const (
	// totpSecretBytes is RFC 4226's recommended 160 bits, the length of
	// a SHA-1 block key.
	totpSecretBytes = 20
	totpPeriod      = 30 // seconds
	// totpSkew is how many steps either side of now a code may be from,
	// for clock drift and the time it takes to type a code.
	totpSkew = 1
	// qrSize is the QR image's width and height in pixels: enough for
	// the otpauth URI of a long e-mail address at the QR level pquerna/otp
	// uses.
	qrSize = 256
)

// totpSecretEncoding is how authenticator apps take secrets: RFC 4648
// base32, upper case, no padding.
var totpSecretEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// TOTPSetup is what a user needs to add a new TOTP secret to an
// authenticator app. It holds the secret: show it once, never log or store
// it.
type TOTPSetup struct {
	// Secret is the secret in base32 without padding, for typing in.
	Secret string
	// URI is the otpauth:// key URI
	// (otpauth://totp/Issuer:account?algorithm=SHA1&digits=6&issuer=Issuer&period=30&secret=…).
	URI string
	// QRPNG is URI as a QR code in a PNG image, for scanning.
	QRPNG []byte
}

// LogValue keeps the secret out of structured logs.
func (TOTPSetup) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// Format keeps the secret out of fmt output under every verb.
func (TOTPSetup) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte("[redacted]")) }

// Setup draws a new TOTP secret for userID and stores it pending, replacing
// any earlier pending one (so only the latest set-up can be enabled).
// accountName is how authenticator apps label it, usually the user's
// address. ErrTOTPAlreadyEnabled if the user has an enabled factor: it
// must be disabled first.
func (f *Factors) Setup(ctx context.Context, userID, accountName string) (TOTPSetup, error) {
	if userID == "" || accountName == "" {
		return TOTPSetup{}, errors.New("challenge: set up totp: empty user ID or account name")
	}
	// Checked first only to spare the work; PutPendingTOTP is what makes
	// it race-free.
	rec, err := f.store.GetTOTP(ctx, userID)
	switch {
	case err == nil && rec.Enabled():
		return TOTPSetup{}, ErrTOTPAlreadyEnabled
	case err != nil && !errors.Is(err, ErrNotFound):
		return TOTPSetup{}, fmt.Errorf("challenge: set up totp: %w", err)
	}
	secret, err := random.Bytes(f.rand, totpSecretBytes)
	if err != nil {
		return TOTPSetup{}, fmt.Errorf("challenge: set up totp: %w", err)
	}
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer:      f.issuer,
		AccountName: accountName,
		Period:      totpPeriod,
		Secret:      secret,
		Digits:      otp.DigitsSix,
		Algorithm:   otp.AlgorithmSHA1,
	})
	if err != nil {
		return TOTPSetup{}, fmt.Errorf("challenge: set up totp: generate key: %w", err)
	}
	img, err := key.Image(qrSize, qrSize)
	if err != nil {
		return TOTPSetup{}, fmt.Errorf("challenge: set up totp: render qr code: %w", err)
	}
	var qr bytes.Buffer
	if err := png.Encode(&qr, img); err != nil {
		return TOTPSetup{}, fmt.Errorf("challenge: set up totp: encode qr code: %w", err)
	}
	err = f.store.PutPendingTOTP(ctx, userID, f.seal(userID, secret), f.now())
	if errors.Is(err, ErrConflict) {
		return TOTPSetup{}, ErrTOTPAlreadyEnabled
	}
	if err != nil {
		return TOTPSetup{}, fmt.Errorf("challenge: set up totp: %w", err)
	}
	return TOTPSetup{Secret: key.Secret(), URI: key.String(), QRPNG: qr.Bytes()}, nil
}

// Enable proves the pending secret with a code from the authenticator app,
// enables it, and returns the user's recovery codes, to show once.
//
// The code's time step becomes the factor's last step, so the same code
// cannot then be replayed to log in. ErrNoPendingTOTP without a set-up (or
// when a concurrent set-up or disable replaced it), ErrTOTPAlreadyEnabled
// when already enabled, ErrInvalidCode for a wrong code; the pending secret
// survives a wrong code.
func (f *Factors) Enable(ctx context.Context, userID, code string) ([]string, error) {
	rec, err := f.store.GetTOTP(ctx, userID)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, ErrNoPendingTOTP
	case err != nil:
		return nil, fmt.Errorf("challenge: enable totp: %w", err)
	case rec.Enabled():
		return nil, ErrTOTPAlreadyEnabled
	case !wellFormed(code):
		return nil, ErrInvalidCode
	}
	step, ok, err := f.matchStep(userID, rec, code)
	if err != nil {
		return nil, fmt.Errorf("challenge: enable totp: %w", err)
	}
	if !ok {
		return nil, ErrInvalidCode
	}
	codes, hashes, err := f.newRecoveryCodes(userID)
	if err != nil {
		return nil, fmt.Errorf("challenge: enable totp: %w", err)
	}
	err = f.store.EnableTOTP(ctx, userID, rec.SecretSealed, step, hashes, f.now())
	if errors.Is(err, ErrNotFound) {
		return nil, ErrNoPendingTOTP
	}
	if err != nil {
		return nil, fmt.Errorf("challenge: enable totp: %w", err)
	}
	return codes, nil
}

// VerifyTOTP checks a code from the user's enabled factor and accepts it
// at most once. ErrInvalidCode when the code is malformed, wrong, already
// used or older than one already used, and when the user has no enabled
// factor. Other errors (the store, a key that opens nothing) mean the check
// could not be made: the caller fails closed.
func (f *Factors) VerifyTOTP(ctx context.Context, userID, code string) error {
	// Malformed input cannot be a code we would accept, so it never
	// reaches the store.
	if !wellFormed(code) {
		return ErrInvalidCode
	}
	rec, err := f.store.GetTOTP(ctx, userID)
	if errors.Is(err, ErrNotFound) {
		return ErrInvalidCode
	}
	if err != nil {
		return fmt.Errorf("challenge: verify totp: %w", err)
	}
	if !rec.Enabled() {
		return ErrInvalidCode
	}
	step, ok, err := f.matchStep(userID, rec, code)
	if err != nil {
		return fmt.Errorf("challenge: verify totp: %w", err)
	}
	if !ok {
		return ErrInvalidCode
	}
	// The authoritative replay check: matchStep's comparison with
	// rec.LastStep can be overtaken by a concurrent verification.
	advanced, err := f.store.AdvanceTOTPStep(ctx, userID, step)
	if err != nil {
		return fmt.Errorf("challenge: verify totp: %w", err)
	}
	if !advanced {
		return ErrInvalidCode
	}
	return nil
}

// matchStep returns the earliest time step within the skew window around
// now, after rec.LastStep, whose code is code. Used steps are passed over so
// that a code that happens to be both a used step's and a fresh one's counts
// for the fresh one (AdvanceTOTPStep still has the last word). Every step in
// the window is computed and compared in constant time, whether or not an
// earlier one matched, so timing says little about which did.
//
// The secret is opened for userID, the caller's user, not rec.UserID: the
// point of binding it to its user is to refuse a record that is not theirs.
func (f *Factors) matchStep(userID string, rec TOTPRecord, code string) (step int64, ok bool, err error) {
	secret, err := f.open(userID, rec.SecretSealed)
	if err != nil {
		return 0, false, err
	}
	b32 := totpSecretEncoding.EncodeToString(secret)
	clear(secret)
	now := f.now().Unix() / totpPeriod
	for s := now - totpSkew; s <= now+totpSkew; s++ {
		want, err := hotp.GenerateCodeCustom(b32, uint64(s), hotp.ValidateOpts{
			Digits:    otp.DigitsSix,
			Algorithm: otp.AlgorithmSHA1,
		})
		if err != nil {
			return 0, false, fmt.Errorf("compute totp code: %w", err)
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && s > rec.LastStep && !ok {
			step, ok = s, true
		}
	}
	return step, ok, nil
}
