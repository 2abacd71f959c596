// Package keystore owns token signing keys: generation, kid (RFC 7638
// thumbprint), encrypted persistence, the key state machine and the JWKS
// document.
//
// A [Store] persists keys with the private part sealed under a
// key-encryption key ([KEK], AES-256-GCM with the kid as additional data):
// [MemoryStore] is the embedded default, [PostgresStore] the real one, and
// both pass the keystoretest conformance suite. A key's state (next,
// active, retired, expired) is never stored; [Key.StateAt] derives it from
// the key's timestamps, so every instance agrees without writes.
//
// Rotation keeps one promise: a gateway that caches the JWKS for at most its
// max-age never meets a token whose kid it lacks, however many instances
// share the store. [Manager.Run] calls [Manager.Maintain] every poll
// interval on every instance; a pass decides inside [Store.UpdateKeys],
// under the store's lock, whether a rotation is due, so exactly one instance
// rotates. A rotation publishes a next key that signs only after
// [Schedule.ActivationDelay] (poll interval + JWKS max-age + leeway), when
// every cached key set holds it; the key it replaces stays published for
// [Schedule.RetiredFor] (token lifetime + leeway), until everything it
// signed has expired, and is then deleted. [Rekey] re-seals the keys under
// a new KEK. [PEMStore] serves keys from PEM files instead, read-only.
//
// A [Manager] opens the stored keys once per pass over the store and
// publishes an immutable snapshot: the signing key, the public keys by kid,
// the JWKS bytes with their ETag and the PEM of the signing key. Readers on
// the hot paths (signing, bearer verification, /.well-known/jwks.json) load
// that snapshot without locking or allocating.
//
// It must not import token, identity, session or challenge.
package keystore
