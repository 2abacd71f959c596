package keystore

import (
	"crypto/rsa"
	"time"
)

// WithGenerator replaces key generation, so tests hand out keys from a small
// set generated once instead of paying for a new RSA key in every test.
func WithGenerator(generate func(bits int) (*rsa.PrivateKey, error)) Option {
	return func(m *Manager) { m.generate = generate }
}

// WritePEM is GeneratePEM with a key the test already has.
func WritePEM(dir string, priv *rsa.PrivateKey, activatesAt time.Time) (string, error) {
	return writePEM(dir, priv, activatesAt)
}
