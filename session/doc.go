// Package session owns refresh-token sessions: token families, rotation with
// reuse detection, revocation, listing and expiry clean-up.
//
// A session is one family of refresh tokens, of which exactly one is live.
// Tokens are 32 random bytes (unpadded base64url) and only their SHA-256 is
// stored. Refreshing rotates the live token to a successor derived from it
// with HMAC-SHA256 under a server secret, so concurrent retries of one
// refresh all compute the same successor: the store lets one of them rotate,
// and the others, arriving within the reuse grace window, are answered with
// the same live token instead of forking the family. A rotated token
// presented after the window is taken as stolen and the family is revoked.
//
// A token is bound to its session's client: the store rotates it only for
// that client, in the same statement, so another client presenting a stolen
// token cannot use or burn it. Sessions end at their lifetime, on
// revocation, or after an optional idle timeout without a refresh; ended
// sessions are deleted in batches by a clean-up that one instance at a time
// runs ([Manager.RunCleanup]).
//
// [Manager] holds these rules; a [Store] persists the records, in memory
// ([MemoryStore]) or in PostgreSQL ([PostgresStore]), both proven by the
// suite in sessiontest.
//
// It must not import token, identity, challenge or keystore.
package session
