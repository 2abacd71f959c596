// Package keystore owns token signing keys: generation, kid (RFC 7638
// thumbprint), encrypted persistence, the key state machine and the JWKS
// document.
//
// It must not import token, identity, session or challenge.
package keystore
