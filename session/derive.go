package session

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
)

// deriveLabel domain-separates successor derivation from any other use of
// the same secret; the NUL ends the label so no token can extend it.
const deriveLabel = "authd-refresh-v1\x00"

// successor returns the token that replaces presented. It is deterministic
// so that every concurrent retry of one refresh computes the same successor
// and a family never has two live tokens; it needs the server secret, so
// holding a token does not reveal the next one.
func successor(secret []byte, presented string) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(deriveLabel))
	mac.Write([]byte(presented))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// hashToken is what the store keeps instead of the token: a leaked table
// yields nothing that can be presented.
func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}
