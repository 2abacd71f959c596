package keystore

import "crypto/rsa"

// WithGenerator replaces key generation, so tests hand out keys from a small
// set generated once instead of paying for a new RSA key in every test.
func WithGenerator(generate func(bits int) (*rsa.PrivateKey, error)) Option {
	return func(m *Manager) { m.generate = generate }
}
