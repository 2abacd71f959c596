package main

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/base64"
	"fmt"
	"image/png"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	authdv1 "github.com/authd/authd/gen/authd/v1"
	"github.com/authd/authd/gen/authd/v1/authdv1connect"
)

const grantMFAOTP = "urn:authd:params:oauth:grant-type:mfa-otp"

// requireOathtool returns the path of oathtool (OATH Toolkit), the
// independent TOTP implementation the tests compute codes with. Without it
// the test is skipped, except under CI=true, where that fails it.
func requireOathtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("oathtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("oathtool is not installed (Debian package oathtool): CI must run the TOTP tests")
		}
		t.Skip("oathtool not on PATH (Debian package oathtool)")
	}
	return p
}

var sixDigitCode = regexp.MustCompile(`^\d{6}$`)

// oathtoolCode asks oathtool for the RFC 6238 code of secret (base32) at
// time step step (30-second steps from the Unix epoch).
func oathtoolCode(t *testing.T, secret string, step int64) string {
	t.Helper()
	at := time.Unix(step*30, 0).UTC().Format("2006-01-02 15:04:05 UTC")
	out, err := exec.Command(requireOathtool(t), "--totp", "-b", secret, "--now", at).CombinedOutput()
	if err != nil {
		t.Fatalf("oathtool --totp -b <secret> --now %q: %v\n%s", at, err, out)
	}
	code := strings.TrimSpace(string(out))
	if !sixDigitCode.MatchString(code) {
		t.Fatalf("oathtool printed %q, want six digits", out)
	}
	return code
}

// totpDevice is an authenticator app: it hands out the code of the
// earliest time step that the server still accepts (one step either side
// of now) and that is after every step already used, since the server
// accepts each step once and never an earlier one.
type totpDevice struct {
	t      *testing.T
	secret string
	last   int64
}

func (d *totpDevice) next() string {
	d.t.Helper()
	for {
		now := time.Now()
		// The server's step now, and (allowing 3 s for the request) when
		// it checks the code: the step must be in both windows.
		early, late := now.Unix()/30, now.Add(3*time.Second).Unix()/30
		step := max(d.last+1, late-1)
		if step <= early+1 {
			d.last = step
			return oathtoolCode(d.t, d.secret, step)
		}
		wait := time.Unix((step-1)*30, 0).Sub(now)
		if wait > 5*time.Second {
			d.t.Fatalf("every TOTP step of the ±1 window is used; the next one is %v away: the test uses too many codes", wait)
		}
		time.Sleep(wait)
	}
}

// amrOf returns the amr claim of an access token.
func amrOf(t *testing.T, accessToken string) []string {
	t.Helper()
	_, c := jwtParts(t, accessToken)
	raw, ok := c["amr"].([]any)
	if !ok {
		t.Fatalf("access token has no amr array: %v", c)
	}
	out := make([]string, 0, len(raw))
	for _, v := range raw {
		s, ok := v.(string)
		if !ok {
			t.Fatalf("amr holds a %T: %v", v, raw)
		}
		out = append(out, s)
	}
	return out
}

// wantAMR checks that amr holds every method of want and none of not.
func wantAMR(t *testing.T, what string, amr, want, not []string) {
	t.Helper()
	for _, m := range want {
		if !slices.Contains(amr, m) {
			t.Errorf("%s: amr %v lacks %q", what, amr, m)
		}
	}
	for _, m := range not {
		if slices.Contains(amr, m) {
			t.Errorf("%s: amr %v holds %q", what, amr, m)
		}
	}
}

// mfaForm is the /token request completing a challenge with a TOTP code
// (kind "otp") or a recovery code (kind "recovery_code").
func mfaForm(mfaToken, kind, code string) url.Values {
	return url.Values{"grant_type": {grantMFAOTP}, "mfa_token": {mfaToken}, kind: {code}}
}

// wantOAuthError checks a /token error answer.
func wantOAuthError(t *testing.T, what string, r response, status int, oauthError, reason string) {
	t.Helper()
	m := r.JSON(t)
	if r.Status != status || m["error"] != oauthError || (reason != "" && m["reason"] != reason) {
		t.Fatalf("%s: %d %s, want %d %s %s", what, r.Status, r.Body, status, oauthError, reason)
	}
	for _, k := range []string{"access_token", "refresh_token", "id_token"} {
		if _, ok := m[k]; ok {
			t.Fatalf("%s: error answer carries %s: %s", what, k, r.Body)
		}
	}
}

// wantRESTError checks a REST or Connect JSON error answer.
func wantRESTError(t *testing.T, what string, r response, status int, reason string) {
	t.Helper()
	if r.Status != status || reasonOf(t, r.Body) != reason {
		t.Fatalf("%s: %d %s, want %d %s", what, r.Status, r.Body, status, reason)
	}
}

// mfaRequired checks the /token answer to a first factor of a TOTP user
// and returns its mfa_token.
func mfaRequired(t *testing.T, what string, r response) string {
	t.Helper()
	m := r.JSON(t)
	if r.Status != http.StatusForbidden || m["error"] != "mfa_required" || m["reason"] != "MFA_REQUIRED" {
		t.Fatalf("%s: %d %s, want 403 mfa_required", what, r.Status, r.Body)
	}
	if _, ok := m["access_token"]; ok {
		t.Fatalf("%s: mfa_required carries an access token: %s", what, r.Body)
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("%s: Cache-Control %q, want no-store", what, r.Header.Get("Cache-Control"))
	}
	tok := str(t, m, "mfa_token")
	if len(tok) < 43 {
		t.Fatalf("%s: mfa_token %q is shorter than 256 bits", what, tok)
	}
	factors, _ := m["factors"].([]any)
	if !slices.Contains(factors, any("totp")) || !slices.Contains(factors, any("recovery_code")) {
		t.Fatalf("%s: factors %v, want totp and recovery_code", what, m["factors"])
	}
	if e, _ := m["expires_in"].(float64); e <= 0 || e > 600 {
		t.Fatalf("%s: expires_in %v", what, m["expires_in"])
	}
	return tok
}

// restChallenge checks a REST Login or VerifyLogin answer holding the
// mfa_challenge of the oneof and returns its mfa_token.
func restChallenge(t *testing.T, what string, r response) string {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("%s: %d %s", what, r.Status, r.Body)
	}
	m := r.JSON(t)
	if m["tokens"] != nil {
		t.Fatalf("%s: answered tokens to a TOTP user: %s", what, r.Body)
	}
	tok := str(t, m, "mfa_challenge.mfa_token")
	ch := m["mfa_challenge"].(map[string]any)
	factors, _ := ch["factors"].([]any)
	if !slices.Contains(factors, any("totp")) || !slices.Contains(factors, any("recovery_code")) {
		t.Fatalf("%s: factors %v", what, ch["factors"])
	}
	if e, _ := ch["expires_in"].(float64); e <= 0 {
		t.Fatalf("%s: expires_in %v", what, ch["expires_in"])
	}
	return tok
}

// recoveryCodes reads the recovery_codes of a REST answer.
func recoveryCodes(t *testing.T, what string, r response) []string {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("%s: %d %s", what, r.Status, r.Body)
	}
	raw, _ := r.JSON(t)["recovery_codes"].([]any)
	codes := make([]string, 0, len(raw))
	for _, v := range raw {
		if s, _ := v.(string); s != "" && !slices.Contains(codes, s) {
			codes = append(codes, s)
		}
	}
	if len(codes) < 8 || len(codes) != len(raw) {
		t.Fatalf("%s: %d distinct recovery codes in %s, want >= 8", what, len(codes), r.Body)
	}
	return codes
}

// setupTOTP calls SetupTOTP over REST, checks the answer and returns the
// secret.
func setupTOTP(t *testing.T, s *server, access, account string) string {
	t.Helper()
	r := s.postJSON("/api/v1/auth/2fa/setup", `{}`, bearer(access))
	if r.Status != http.StatusOK {
		t.Fatalf("setup: %d %s", r.Status, r.Body)
	}
	m := r.JSON(t)
	secret := str(t, m, "secret")
	if len(secret) < 32 || strings.Trim(secret, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") != "" {
		t.Fatalf("secret %q: want >= 32 upper-case base32 characters (160 bits)", secret)
	}
	if raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret); err != nil || len(raw) < 20 {
		t.Fatalf("secret %q decodes to %d bytes (%v), want >= 20", secret, len(raw), err)
	}

	u, err := url.Parse(str(t, m, "otpauth_uri"))
	if err != nil {
		t.Fatalf("otpauth_uri: %v", err)
	}
	q := u.Query()
	if u.Scheme != "otpauth" || u.Host != "totp" || u.Path != "/authd:"+account {
		t.Fatalf("otpauth_uri %s: want otpauth://totp/authd:%s", u, account)
	}
	if q.Get("issuer") != "authd" || q.Get("secret") != secret {
		t.Fatalf("otpauth_uri %s: want issuer=authd and the secret", u)
	}
	for k, want := range map[string]string{"algorithm": "SHA1", "digits": "6", "period": "30"} {
		if got := q.Get(k); got != "" && got != want {
			t.Fatalf("otpauth_uri %s: %s=%s, want %s", u, k, got, want)
		}
	}

	qr, err := base64.StdEncoding.DecodeString(str(t, m, "qr_png"))
	if err != nil {
		t.Fatalf("qr_png is not base64: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(qr))
	if err != nil {
		t.Fatalf("qr_png does not decode as PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 64 || b.Dx() != b.Dy() {
		t.Fatalf("QR image is %v, want a square of at least 64 px", b)
	}
	return secret
}

// meTOTP reads totp_enabled from GetMe over REST.
func meTOTP(t *testing.T, s *server, access string) bool {
	t.Helper()
	r := s.do(http.MethodGet, "/api/v1/auth/me", "", nil, bearer(access))
	if r.Status != http.StatusOK {
		t.Fatalf("me: %d %s", r.Status, r.Body)
	}
	u, ok := r.JSON(t)["user"].(map[string]any)
	if !ok {
		t.Fatalf("me: no user in %s", r.Body)
	}
	v, ok := u["totp_enabled"].(bool)
	if !ok {
		t.Fatalf("me: no boolean totp_enabled in %s", r.Body)
	}
	return v
}

// TestTOTPTwoFactor takes the seed admin through TOTP enrolment, every way
// of answering the MFA challenge and every refusal, with codes computed by
// oathtool, an implementation independent of authd's.
func TestTOTPTwoFactor(t *testing.T) {
	requireOathtool(t)
	forEachBackend(t, func(t *testing.T, env map[string]string) {
		s := startServer(t, env)
		ctx := context.Background()
		const email = "admin@auth1.dev"

		r := s.postForm("/token", adminPassword())
		if r.Status != http.StatusOK {
			t.Fatalf("login: %d %s", r.Status, r.Body)
		}
		access := str(t, r.JSON(t), "access_token")
		if meTOTP(t, s, access) {
			t.Fatal("totp_enabled before any set-up")
		}

		secret := setupTOTP(t, s, access, email)
		dev := &totpDevice{t: t, secret: secret}

		// A pending set-up is not a factor yet.
		if meTOTP(t, s, access) {
			t.Fatal("totp_enabled after set-up, before enable")
		}
		if r := s.postForm("/token", adminPassword()); r.Status != http.StatusOK {
			t.Fatalf("login with a pending set-up: %d %s", r.Status, r.Body)
		}

		// A wrong code does not enable it (the code of a step far ahead:
		// a real code, just not a current one).
		far := oathtoolCode(t, secret, time.Now().Unix()/30+100)
		r = s.postJSON("/api/v1/auth/2fa/enable", map[string]string{"otp": far}, bearer(access))
		wantRESTError(t, "enable with a wrong code", r, http.StatusBadRequest, "INVALID_CODE")
		// Nor does the code of two steps ago: one step of skew, no more.
		stale := oathtoolCode(t, secret, time.Now().Unix()/30-2)
		r = s.postJSON("/api/v1/auth/2fa/enable", map[string]string{"otp": stale}, bearer(access))
		wantRESTError(t, "enable with the code of two steps ago", r, http.StatusBadRequest, "INVALID_CODE")

		recovery := recoveryCodes(t, "enable", s.postJSON("/api/v1/auth/2fa/enable", map[string]string{"otp": dev.next()}, bearer(access)))
		// The owner is told the second factor was turned on.
		s.awaitMessage("admin@auth1.dev", func(m outboxMessage) bool { return m.Template == "totp_enabled" })
		if !meTOTP(t, s, access) {
			t.Fatal("GetMe: totp_enabled false after enable")
		}
		r = s.postJSON("/api/v1/auth/2fa/enable", map[string]string{"otp": "123456"}, bearer(access))
		wantRESTError(t, "enable twice", r, http.StatusConflict, "TOTP_ALREADY_ENABLED")
		r = s.postJSON("/api/v1/auth/2fa/setup", `{}`, bearer(access))
		wantRESTError(t, "set-up while enabled", r, http.StatusConflict, "TOTP_ALREADY_ENABLED")

		// A password is no longer enough, on any surface.
		form := adminPassword()
		form.Set("scope", "openid email")
		mfa1 := mfaRequired(t, "password grant", s.postForm("/token", form))
		wrongPw := adminPassword()
		wrongPw.Set("password", "not the password")
		wantOAuthError(t, "wrong password of a TOTP user", s.postForm("/token", wrongPw), http.StatusBadRequest, "invalid_grant", "INVALID_CREDENTIALS")
		mfa2 := restChallenge(t, "REST login", s.postJSON("/api/v1/auth/login", `{"email":"admin@auth1.dev","password":"admin123"}`, nil))
		tokens := authdv1connect.NewTokenServiceClient(http.DefaultClient, s.URL)
		login, err := tokens.Login(ctx, connect.NewRequest(&authdv1.LoginRequest{Email: email, Password: "admin123"}))
		if err != nil {
			t.Fatalf("Connect login: %v", err)
		}
		if login.Msg.GetTokens() != nil || login.Msg.GetMfaChallenge() == nil || login.Msg.GetMfaChallenge().MfaToken == "" {
			t.Fatalf("Connect login of a TOTP user: %v, want an MFA challenge", login.Msg)
		}
		mfa3 := login.Msg.GetMfaChallenge().MfaToken
		if mfa1 == mfa2 || mfa2 == mfa3 || mfa1 == mfa3 {
			t.Fatal("two logins got the same mfa_token")
		}

		// The TOTP code completes the challenge, with the scope asked for
		// at the first step.
		loginCode := dev.next()
		r = s.postForm("/token", mfaForm(mfa1, "otp", loginCode))
		if r.Status != http.StatusOK {
			t.Fatalf("mfa-otp grant with a TOTP code: %d %s", r.Status, r.Body)
		}
		m := r.JSON(t)
		access = str(t, m, "access_token")
		wantAMR(t, "after TOTP", amrOf(t, access), []string{"pwd", "mfa", "otp"}, nil)
		if m["scope"] != "openid email" || m["id_token"] == nil || str(t, m, "refresh_token") == "" {
			t.Fatalf("mfa-otp answer lost the requested scope or tokens: %s", r.Body)
		}
		if _, ic := jwtParts(t, str(t, m, "id_token")); ic["email"] != email {
			t.Fatalf("id token after MFA: %v", ic)
		}
		// Refreshing keeps the session's methods.
		r = s.postForm("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {str(t, m, "refresh_token")}})
		if r.Status != http.StatusOK {
			t.Fatalf("refresh after MFA: %d %s", r.Status, r.Body)
		}
		wantAMR(t, "refreshed after TOTP", amrOf(t, str(t, r.JSON(t), "access_token")), []string{"pwd", "mfa", "otp"}, nil)

		// An mfa_token is single-use: a good recovery code does not
		// revive it (and is not spent by the attempt, see below).
		wantOAuthError(t, "used mfa_token", s.postForm("/token", mfaForm(mfa1, "recovery_code", recovery[0])),
			http.StatusBadRequest, "invalid_grant", "INVALID_CODE")

		// A TOTP code is accepted once, even on another challenge.
		wantOAuthError(t, "replayed TOTP code", s.postForm("/token", mfaForm(mfa2, "otp", loginCode)),
			http.StatusBadRequest, "invalid_grant", "INVALID_CODE")

		// A recovery code completes a challenge over REST (the refused
		// replay above left mfa2 usable).
		r = s.postJSON("/api/v1/auth/2fa/verify", map[string]string{"mfa_token": mfa2, "recovery_code": recovery[0]}, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("REST 2fa/verify with a recovery code: %d %s", r.Status, r.Body)
		}
		wantAMR(t, "after a recovery code", amrOf(t, str(t, r.JSON(t), "tokens.access_token")), []string{"pwd", "mfa"}, nil)
		r = s.postJSON("/api/v1/auth/2fa/verify", map[string]string{"mfa_token": mfa2, "recovery_code": recovery[1]}, nil)
		wantRESTError(t, "REST 2fa/verify with a used mfa_token", r, http.StatusBadRequest, "INVALID_CODE")

		// ... once.
		_, err = tokens.VerifyTwoFactor(ctx, connect.NewRequest(&authdv1.VerifyTwoFactorRequest{MfaToken: mfa3, RecoveryCode: recovery[0]}))
		if err == nil {
			t.Fatal("Connect VerifyTwoFactor accepted a used recovery code")
		}
		if code, reason := connectReason(t, err); code != connect.CodeInvalidArgument || reason != "INVALID_CODE" {
			t.Fatalf("used recovery code: %v %s (%v)", code, reason, err)
		}

		// An email code proves the address, not a second factor.
		if r := s.postJSON("/api/v1/auth/request-otp", map[string]string{"email": email}, nil); r.Status != http.StatusOK {
			t.Fatalf("request-otp: %d %s", r.Status, r.Body)
		}
		emailCode := s.latestCode(email)
		wantOAuthError(t, "email code as the second factor", s.postForm("/token", mfaForm(mfa3, "otp", emailCode)),
			http.StatusBadRequest, "invalid_grant", "INVALID_CODE")
		// That email code was live: as a first factor (VerifyLogin) it
		// leads to an MFA challenge, not to tokens.
		mfa4 := restChallenge(t, "REST verify-login", s.postJSON("/api/v1/auth/verify-login", map[string]string{"email": email, "otp": emailCode}, nil))
		r = s.postForm("/token", mfaForm(mfa4, "recovery_code", recovery[1]))
		if r.Status != http.StatusOK {
			t.Fatalf("mfa-otp grant with a recovery code after an email code: %d %s", r.Status, r.Body)
		}
		wantAMR(t, "email code + recovery code", amrOf(t, str(t, r.JSON(t), "access_token")), []string{"otp", "mfa"}, []string{"pwd"})

		// New recovery codes replace the old ones.
		r = s.postJSON("/api/v1/auth/2fa/recovery-codes", map[string]string{"otp": dev.next()}, bearer(access))
		fresh := recoveryCodes(t, "regenerate", r)
		for _, c := range fresh {
			if slices.Contains(recovery, c) {
				t.Fatalf("regenerated recovery code %q was an old one", c)
			}
		}
		mfa5 := mfaRequired(t, "password grant", s.postForm("/token", adminPassword()))
		wantOAuthError(t, "old, unused recovery code after regenerate", s.postForm("/token", mfaForm(mfa5, "recovery_code", recovery[2])),
			http.StatusBadRequest, "invalid_grant", "INVALID_CODE")
		r = s.postJSON("/api/v1/auth/2fa/disable", map[string]string{"recovery_code": recovery[3]}, bearer(access))
		wantRESTError(t, "disable with an old recovery code", r, http.StatusBadRequest, "INVALID_CODE")

		// A new recovery code disables TOTP.
		r = s.postJSON("/api/v1/auth/2fa/disable", map[string]string{"recovery_code": fresh[0]}, bearer(access))
		if r.Status != http.StatusOK {
			t.Fatalf("disable with a recovery code: %d %s", r.Status, r.Body)
		}
		if meTOTP(t, s, access) {
			t.Fatal("GetMe: totp_enabled after disable")
		}
		r = s.postForm("/token", adminPassword())
		if r.Status != http.StatusOK {
			t.Fatalf("password login after disable: %d %s", r.Status, r.Body)
		}
		wantAMR(t, "password after disable", amrOf(t, str(t, r.JSON(t), "access_token")), []string{"pwd"}, []string{"mfa"})
		// A challenge issued while TOTP was on cannot be completed with
		// the codes of the removed factor.
		wantOAuthError(t, "challenge after disable", s.postForm("/token", mfaForm(mfa5, "recovery_code", fresh[1])),
			http.StatusBadRequest, "invalid_grant", "INVALID_CODE")
		// And enrolment starts over with a new secret.
		if again := setupTOTP(t, s, access, email); again == secret {
			t.Fatal("set-up after disable returned the old secret")
		}
	})
}

// TestTwoFactorEdges covers the refusals around enrolment, the mfa-otp
// grant's parameters, the attempt limit of one mfa_token, and what
// disabling takes.
func TestTwoFactorEdges(t *testing.T) {
	requireOathtool(t)
	forEachBackend(t, func(t *testing.T, env map[string]string) {
		// The test is the trusted proxy, so it can speak for several
		// client addresses and keep the per-address pacing out of the way.
		env["SERVER_TRUSTED_PROXIES"] = "127.0.0.1"
		s := startServer(t, env)
		const email = "user1@auth1.dev"
		userPassword := url.Values{"grant_type": {"password"}, "username": {email}, "password": {"password123"}}
		from := func(n int, form url.Values) response {
			return s.do(http.MethodPost, "/token", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()),
				map[string]string{"X-Forwarded-For": fmt.Sprintf("198.51.100.%d", n)})
		}

		// The TwoFactorService wants a bearer token.
		for _, path := range []string{"/api/v1/auth/2fa/setup", "/api/v1/auth/2fa/enable", "/api/v1/auth/2fa/disable", "/api/v1/auth/2fa/recovery-codes"} {
			r := s.postJSON(path, `{}`, nil)
			if r.Status != http.StatusUnauthorized || reasonOf(t, r.Body) != "INVALID_TOKEN" || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("%s without a bearer token: %d (WWW-Authenticate %q) %s", path, r.Status, r.Header.Get("WWW-Authenticate"), r.Body)
			}
		}

		r := s.postForm("/token", userPassword)
		if r.Status != http.StatusOK {
			t.Fatalf("login: %d %s", r.Status, r.Body)
		}
		access := str(t, r.JSON(t), "access_token")

		r = s.postJSON("/api/v1/auth/2fa/enable", map[string]string{"otp": "123456"}, bearer(access))
		wantRESTError(t, "enable before set-up", r, http.StatusBadRequest, "TOTP_NOT_SET_UP")
		r = s.postJSON("/api/v1/auth/2fa/recovery-codes", map[string]string{"otp": "123456"}, bearer(access))
		if reason := reasonOf(t, r.Body); r.Status != http.StatusBadRequest || (reason != "INVALID_CODE" && reason != "TOTP_NOT_ENABLED") {
			t.Fatalf("recovery codes without TOTP: %d %s", r.Status, r.Body)
		}

		// Only the latest set-up can be enabled.
		first := setupTOTP(t, s, access, email)
		second := setupTOTP(t, s, access, email)
		if first == second {
			t.Fatal("two set-ups returned the same secret")
		}
		step := time.Now().Unix() / 30
		r = s.postJSON("/api/v1/auth/2fa/enable", map[string]string{"otp": oathtoolCode(t, first, step)}, bearer(access))
		wantRESTError(t, "enable with the replaced secret's code", r, http.StatusBadRequest, "INVALID_CODE")
		dev := &totpDevice{t: t, secret: second}
		recovery := recoveryCodes(t, "enable", s.postJSON("/api/v1/auth/2fa/enable", map[string]string{"otp": dev.next()}, bearer(access)))

		// One TOTP code presented at once on five challenges (from five
		// addresses) completes exactly one of them.
		var challenges []string
		for range 5 {
			challenges = append(challenges, mfaRequired(t, "password grant", s.postForm("/token", userPassword)))
		}
		code := dev.next()
		results := make([]response, len(challenges))
		var wg sync.WaitGroup
		for i, c := range challenges {
			wg.Go(func() { results[i] = from(30+i, mfaForm(c, "otp", code)) })
		}
		wg.Wait()
		won := 0
		for _, r := range results {
			switch m := r.JSON(t); {
			case r.Status == http.StatusOK:
				won++
			case r.Status != http.StatusBadRequest || m["error"] != "invalid_grant" || m["reason"] != "INVALID_CODE":
				t.Fatalf("concurrent use of one TOTP code: %d %s", r.Status, r.Body)
			}
		}
		if won != 1 {
			t.Fatalf("one TOTP code presented concurrently on %d challenges completed %d of them, want exactly 1", len(challenges), won)
		}

		// The mfa-otp grant's parameters.
		mfa := mfaRequired(t, "password grant", s.postForm("/token", userPassword))
		for name, form := range map[string]url.Values{
			"no mfa_token":            {"grant_type": {grantMFAOTP}, "otp": {"123456"}},
			"neither code":            {"grant_type": {grantMFAOTP}, "mfa_token": {mfa}},
			"otp and recovery_code":   {"grant_type": {grantMFAOTP}, "mfa_token": {mfa}, "otp": {"123456"}, "recovery_code": {recovery[0]}},
			"recovery_code, no token": {"grant_type": {grantMFAOTP}, "recovery_code": {recovery[0]}},
			"empty otp, no recovery":  {"grant_type": {grantMFAOTP}, "mfa_token": {mfa}, "otp": {""}},
			"empty mfa_token":         {"grant_type": {grantMFAOTP}, "mfa_token": {""}, "recovery_code": {recovery[0]}},
		} {
			wantOAuthError(t, name, s.postForm("/token", form), http.StatusBadRequest, "invalid_request", "")
		}
		for name, tok := range map[string]string{
			"garbage mfa_token":   "not-a-token",
			"unissued mfa_token":  strings.Repeat("A", 43),
			"access token as mfa": access,
		} {
			wantOAuthError(t, name, s.postForm("/token", mfaForm(tok, "recovery_code", recovery[0])), http.StatusBadRequest, "invalid_grant", "INVALID_CODE")
		}

		// One mfa_token takes at most 5 attempts: after 5 wrong codes (from
		// 5 addresses, so no per-address lock) even a right one is refused,
		// and that right one is not spent.
		for i := range 5 {
			wantOAuthError(t, fmt.Sprintf("wrong code %d", i+1), from(10+i, mfaForm(mfa, "otp", "000000")), http.StatusBadRequest, "invalid_grant", "INVALID_CODE")
		}
		wantOAuthError(t, "right code on an exhausted mfa_token", from(20, mfaForm(mfa, "recovery_code", recovery[0])), http.StatusBadRequest, "invalid_grant", "INVALID_CODE")
		mfa = mfaRequired(t, "password grant", from(21, userPassword))
		r = from(21, mfaForm(mfa, "recovery_code", recovery[0]))
		if r.Status != http.StatusOK {
			t.Fatalf("recovery code refused on the exhausted token, on a new one: %d %s", r.Status, r.Body)
		}
		access = str(t, r.JSON(t), "access_token")

		// Disabling takes a proof.
		r = s.postJSON("/api/v1/auth/2fa/disable", `{}`, bearer(access))
		wantRESTError(t, "disable without proof", r, http.StatusBadRequest, "INVALID_REQUEST")
		r = s.postJSON("/api/v1/auth/2fa/disable", map[string]string{"password": "wrong password"}, bearer(access))
		wantRESTError(t, "disable with a wrong password", r, http.StatusUnauthorized, "INVALID_CREDENTIALS")
		r = s.postJSON("/api/v1/auth/2fa/disable", map[string]string{"otp": "000000"}, bearer(access))
		wantRESTError(t, "disable with a wrong TOTP code", r, http.StatusBadRequest, "INVALID_CODE")
		if !meTOTP(t, s, access) {
			t.Fatal("refused disables turned TOTP off")
		}
		mfaRequired(t, "password grant after refused disables", s.postForm("/token", userPassword))
		r = s.postJSON("/api/v1/auth/2fa/disable", map[string]string{"password": "password123"}, bearer(access))
		if r.Status != http.StatusOK {
			t.Fatalf("disable with the password: %d %s", r.Status, r.Body)
		}
		if r := s.postForm("/token", userPassword); r.Status != http.StatusOK {
			t.Fatalf("password login after disable: %d %s", r.Status, r.Body)
		}
	})
}
