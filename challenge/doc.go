// Package challenge owns proofs other than passwords: one-time codes (email
// and phone OTP, email-link tokens), TOTP and recovery codes, MFA challenge
// tokens, rate limits and attempt counters, and message delivery.
//
// Built so far:
//   - [Codes] issues and verifies six-digit one-time codes, stored only as
//     keyed hashes, single-use, with a TTL and an attempt limit.
//   - [Store] keeps those short-lived records: [MemoryStore] (embedded
//     default) and [RedisStore]; package challengetest is the conformance
//     suite both pass.
//   - [Sender] delivers a [Message] rendered from a built-in template by
//     [Render]; [Outbox] is the development sender behind GET /debug/outbox.
//
// Callers normalise subjects (addresses) before issuing or verifying, and
// decide what a payload means: this package only keeps it.
//
// It must not import token, identity, session or keystore.
package challenge
