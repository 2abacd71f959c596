// Package challenge owns proofs other than passwords: one-time codes (email
// and phone OTP, email-link tokens), TOTP and recovery codes, MFA challenge
// tokens, rate limits and attempt counters, and message delivery.
//
// It must not import token, identity, session or keystore.
package challenge
