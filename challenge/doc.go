// Package challenge owns proofs other than passwords: one-time codes (email
// and phone OTP, email-link tokens), TOTP and recovery codes, MFA challenge
// tokens, rate limits and attempt counters, and message delivery.
//
//   - [Codes] issues and verifies six-digit one-time codes, stored only as
//     keyed hashes, single-use, with a TTL and an attempt limit. [Links] does
//     the same for 256-bit email-link tokens, which can be checked without
//     being consumed. [MFATokens] are the single-use tokens of pending MFA
//     challenges.
//   - [Store] keeps those short-lived records: [MemoryStore] (embedded
//     default) and [RedisStore]; package challengetest is the conformance
//     suite both pass.
//   - [Factors] manages TOTP (RFC 6238) and recovery codes on a
//     [FactorStore] (memory or PostgreSQL, conformance suite factorstest).
//     The replay guard, the last accepted time step, lives in PostgreSQL so
//     a Redis restart cannot reopen a replay.
//   - [Limiter] throttles credential checks per account, IP and (account,
//     IP); [SendLimiter] limits messages per destination and IP. Both count
//     in a [LimitStore] (memory or Redis, conformance suite limittest) and
//     fail closed: a store error is an error, never an allowed decision.
//   - [Sender] delivers a [Message] rendered from a built-in template by
//     [Render]; [Outbox] is the development sender behind GET /debug/outbox.
//
// Callers normalise subjects (addresses) before issuing or verifying, and
// decide what a payload means: this package only keeps it.
//
// It must not import token, identity, session or keystore.
package challenge
