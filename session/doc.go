// Package session owns refresh-token sessions: token families, rotation with
// reuse detection, revocation, listing and expiry clean-up.
//
// It must not import token, identity, challenge or keystore.
package session
