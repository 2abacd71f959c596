// Package keystore owns token signing keys: generation, kid (RFC 7638
// thumbprint), encrypted persistence, the key state machine and the JWKS
// document.
//
// A [Store] persists keys with the private part sealed under a
// key-encryption key ([KEK], AES-256-GCM with the kid as additional data):
// [MemoryStore] is the embedded default, [PostgresStore] the real one, and
// both pass the keystoretest conformance suite. A key's state (next, active,
// retired, expired) is never stored; [Key.StateAt] derives it from the key's
// timestamps, so every instance agrees without writes.
//
// A [Manager] opens the stored keys once per [Manager.Load] or
// [Manager.Refresh] and publishes an immutable snapshot: the signing key, the
// public keys by kid, the JWKS bytes with their ETag and the PEM of the
// signing key. Readers on the hot paths (signing, bearer verification,
// /.well-known/jwks.json) load that snapshot without locking or allocating.
//
// It must not import token, identity, session or challenge.
package keystore
