// Package identity owns users: signup, address verification state, password
// hashing and policy, and the user store.
//
// It must not import token, session, challenge or keystore: token composes
// identity with the others.
package identity
