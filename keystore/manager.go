package keystore

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// ErrNoSigningKey is returned by [Manager.Signing] and
// [Manager.PublicKeyPEM] when no key is active: keys not loaded yet, or a
// store whose keys are all next, retired or expired.
var ErrNoSigningKey = errors.New("keystore: no active signing key")

// errNotLoaded is built once so the readers' error path does not allocate.
var errNotLoaded = fmt.Errorf("%w: keys not loaded", ErrNoSigningKey)

// Option configures a Manager.
type Option func(*Manager)

// WithKeySize sets the size in bits of generated keys: 2048 (default), 3072
// or 4096. Keys already stored keep their size.
func WithKeySize(bits int) Option { return func(m *Manager) { m.bits = bits } }

// WithClock replaces time.Now, so tests can walk keys through their states.
func WithClock(now func() time.Time) Option { return func(m *Manager) { m.now = now } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(m *Manager) { m.log = l } }

// Manager holds the opened signing keys of one authd instance. Load,
// Refresh, Maintain and Rotate read the store and publish an immutable
// snapshot; the readers (Signing, PublicKey, Published, JWKS, PublicKeyPEM,
// Ready, JWKSHandler) only load that snapshot, so they never lock and are
// safe for concurrent use.
type Manager struct {
	store    Store
	pem      *PEMStore // store, when it is a PEM directory: read-only
	kek      KEK
	bits     int
	now      func() time.Time
	sched    Schedule
	pollSet  bool // PollInterval was given, not derived from JWKSMaxAge
	log      *slog.Logger
	generate func(bits int) (*rsa.PrivateKey, error)

	cacheControl []string // JWKS Cache-Control, fixed by JWKSMaxAge

	mu     sync.Mutex         // serialises the passes over the store; readers never take it
	opened map[string]*opened // by kid, guarded by mu: spares Refresh a decrypt per key
	snap   atomic.Pointer[snapshot]
}

// NewManager returns a Manager over store whose keys are sealed under kek.
// A *PEMStore seals what it reads under a random key of its own, which the
// Manager uses instead, so kek is ignored for it (and may be zero). Call
// Load before using the Manager; Load also reports invalid options, so
// start-up has one place to fail.
func NewManager(store Store, kek KEK, opts ...Option) *Manager {
	m := &Manager{
		store: store,
		kek:   kek,
		bits:  2048,
		now:   time.Now,
		sched: Schedule{
			RotationPeriod: defaultRotationPeriod,
			JWKSMaxAge:     defaultJWKSMaxAge,
			TokenLifetime:  defaultTokenLifetime,
			Leeway:         defaultLeeway,
		},
		log: slog.Default(),
		generate: func(bits int) (*rsa.PrivateKey, error) {
			return Generate(rand.Reader, bits)
		},
	}
	if p, ok := store.(*PEMStore); ok {
		m.pem, m.kek = p, p.kek
	}
	for _, o := range opts {
		o(m)
	}
	if !m.pollSet {
		m.sched.PollInterval = defaultPollInterval(m.sched.JWKSMaxAge)
	}
	m.cacheControl = []string{"public, max-age=" + strconv.FormatInt(int64(m.sched.JWKSMaxAge/time.Second), 10)}
	return m
}

// Schedule returns the rotation timings in force, defaults filled in, for
// operators to see what ActivationDelay and RetiredFor come to.
func (m *Manager) Schedule() Schedule { return m.sched }

// check reports configuration a Manager cannot work with.
func (m *Manager) check() error {
	switch {
	case m.store == nil:
		return errors.New("keystore: no store")
	case m.now == nil:
		return errors.New("keystore: nil clock")
	case m.log == nil:
		return errors.New("keystore: nil logger")
	}
	if err := m.sched.Validate(); err != nil {
		return err
	}
	if err := checkBits(m.bits); err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	if err := checkKEK(m.kek); err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	return nil
}

// Load reads the stored keys, creating the first one if the store has none,
// opens them all and makes them available to the readers. Instances starting
// together on one store end up with the same single first key. A key that
// does not open (wrong KEK, tampered row) fails Load with its kid named. An
// empty PEM directory fails Load: authd does not write there.
func (m *Manager) Load(ctx context.Context) error {
	if err := m.check(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	stored, err := m.store.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("load signing keys: %w", err)
	}
	if len(stored) == 0 {
		if m.pem != nil {
			return fmt.Errorf("load signing keys: PEM directory %s holds no key: add one named for its activation time, e.g. with GeneratePEM (%s.pem)",
				m.pem.dir, m.now().UTC().Format(pemTimeLayout))
		}
		if err := m.createFirstKey(ctx); err != nil {
			return err
		}
		if stored, err = m.store.ListKeys(ctx); err != nil {
			return fmt.Errorf("load signing keys: %w", err)
		}
		if len(stored) == 0 {
			return errors.New("load signing keys: store lists no key after inserting the first one")
		}
	}
	s, err := m.install(stored)
	if err != nil {
		return fmt.Errorf("load signing keys: %w", err)
	}
	if s.signing != nil {
		m.log.Info("signing keys loaded", "keys", len(s.entries), "signing", s.signing.key)
	} else {
		m.log.Warn("signing keys loaded but none is active", "keys", len(s.entries))
	}
	return nil
}

// Refresh re-reads the store, picking up keys other instances added or
// rotated. On failure the readers keep the previous snapshot and the error is
// returned.
func (m *Manager) Refresh(ctx context.Context) error {
	if err := m.check(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.reload(ctx); err != nil {
		return fmt.Errorf("refresh signing keys: %w", err)
	}
	return nil
}

// reload reads the store and installs what it holds. The caller holds mu.
func (m *Manager) reload(ctx context.Context) ([]StoredKey, error) {
	stored, err := m.store.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	// An empty store is a wiped or wrong database, not a reason to stop
	// signing with the keys this instance already has.
	if len(stored) == 0 {
		return nil, errStoreEmpty
	}
	if _, err := m.install(stored); err != nil {
		return nil, err
	}
	return stored, nil
}

// createFirstKey stores a key active at once: nothing has signed before,
// so no verifier holds a key set the new key could be missing from.
func (m *Manager) createFirstKey(ctx context.Context) error {
	sk, err := m.newKey()
	if err != nil {
		return fmt.Errorf("create first signing key: %w", err)
	}
	// Stores keep microseconds (PostgreSQL timestamptz); truncating here
	// makes every store give back exactly what was written.
	now := m.now().UTC().Truncate(time.Microsecond)
	sk.CreatedAt, sk.ActivatesAt = now, now
	created := false
	err = m.store.UpdateKeys(ctx, func(current []StoredKey) ([]StoredKey, error) {
		if len(current) > 0 {
			return current, nil
		}
		created = true
		return append(current, sk), nil
	})
	switch {
	case err != nil:
		return fmt.Errorf("create first signing key: %w", err)
	case created:
		m.log.Info("generated the first signing key", "key", Key{ID: sk.ID})
	default:
		m.log.Info("another instance created the first signing key; using it")
	}
	return nil
}

// newKey generates a key and seals it under the Manager's KEK; the caller
// sets its times.
func (m *Manager) newKey() (StoredKey, error) {
	priv, err := m.generate(m.bits)
	if err != nil {
		return StoredKey{}, err
	}
	return sealKey(m.kek, priv)
}

// sealKey turns a private key into its stored form, without times.
func sealKey(kek KEK, priv *rsa.PrivateKey) (StoredKey, error) {
	kid, err := Thumbprint(&priv.PublicKey)
	if err != nil {
		return StoredKey{}, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return StoredKey{}, fmt.Errorf("marshal public key %s: %w", kid, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return StoredKey{}, fmt.Errorf("marshal private key %s: %w", kid, err)
	}
	defer clear(der)
	sealed, err := kek.Seal(kid, der)
	if err != nil {
		return StoredKey{}, fmt.Errorf("seal private key %s: %w", kid, err)
	}
	return StoredKey{ID: kid, PublicKey: pub, PrivateSealed: sealed}, nil
}

// opened is the timeless part of a stored key: decrypted and with its public
// forms rendered once, however often its timestamps change.
type opened struct {
	// The row's bytes, to notice key material that changed under its kid.
	sealed, pkix []byte
	priv         *rsa.PrivateKey
	pem          []byte // PKIX "PUBLIC KEY" PEM
	jwk          []byte // JSON object, public members only
}

// entry is one key of a snapshot.
type entry struct {
	key    Key // with Private
	public Key // without
	*opened
}

// install opens stored (reusing what is already open) and publishes a
// snapshot of it. On error nothing changes.
func (m *Manager) install(stored []StoredKey) (*snapshot, error) {
	keep := make(map[string]*opened, len(stored))
	entries := make([]*entry, 0, len(stored))
	for _, sk := range stored {
		o, err := m.opening(sk)
		if err != nil {
			return nil, err
		}
		keep[sk.ID] = o
		entries = append(entries, &entry{key: Key{
			ID:          sk.ID,
			Private:     o.priv,
			Public:      &o.priv.PublicKey,
			CreatedAt:   sk.CreatedAt,
			ActivatesAt: sk.ActivatesAt,
			RetiresAt:   sk.RetiresAt,
			ExpiresAt:   sk.ExpiresAt,
		}, opened: o})
	}
	m.retireReplaced(entries)
	for _, e := range entries {
		e.public = e.key
		e.public.Private = nil
	}
	s := newSnapshot(entries, m.now())
	m.opened = keep
	m.snap.Store(s)
	return s, nil
}

// opening returns sk opened, reusing the already opened key when its bytes
// are unchanged. The caller holds mu.
func (m *Manager) opening(sk StoredKey) (*opened, error) {
	if o := m.opened[sk.ID]; o != nil && bytes.Equal(o.sealed, sk.PrivateSealed) && bytes.Equal(o.pkix, sk.PublicKey) {
		return o, nil
	}
	return m.open(sk)
}

// retireReplaced gives every key stored without a RetiresAt (a PEM file, or
// a row written by hand) the retirement it implies: it stops signing when
// the next key by activation activates, and expires RetiredFor later unless
// it has its own ExpiresAt. Rotation stores these times for the keys it
// retires, so for them this changes nothing; without it an open-ended key
// would stay published for ever once replaced.
func (m *Manager) retireReplaced(entries []*entry) {
	for _, e := range entries {
		if !e.key.RetiresAt.IsZero() {
			continue
		}
		var successor time.Time
		for _, o := range entries {
			if a := o.key.ActivatesAt; a.After(e.key.ActivatesAt) && (successor.IsZero() || a.Before(successor)) {
				successor = a
			}
		}
		if successor.IsZero() {
			continue
		}
		e.key.RetiresAt = successor
		if e.key.ExpiresAt.IsZero() {
			e.key.ExpiresAt = successor.Add(m.sched.RetiredFor())
		}
	}
}

// open decrypts a stored key and checks that its kid and public key are the
// ones its private key implies, so a row cannot pair one key's kid with
// another's material.
func (m *Manager) open(sk StoredKey) (*opened, error) {
	der, err := m.kek.Open(sk.ID, sk.PrivateSealed)
	if err != nil {
		return nil, fmt.Errorf("open signing key %s: %w", sk.ID, err)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	clear(der)
	if err != nil {
		return nil, fmt.Errorf("open signing key %s: parse PKCS#8: %w", sk.ID, err)
	}
	priv, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("open signing key %s: %T is not an RSA key", sk.ID, parsed)
	}
	kid, err := Thumbprint(&priv.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("open signing key %s: %w", sk.ID, err)
	}
	if kid != sk.ID {
		return nil, fmt.Errorf("open signing key %s: its thumbprint is %s", sk.ID, kid)
	}
	pkix, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("open signing key %s: marshal public key: %w", sk.ID, err)
	}
	if !bytes.Equal(pkix, sk.PublicKey) {
		return nil, fmt.Errorf("open signing key %s: stored public key does not match the private key", sk.ID)
	}
	jwk, err := json.Marshal(jwkJSON{
		Kty: "RSA",
		Use: "sig",
		Alg: "RS256",
		Kid: kid,
		N:   base64.RawURLEncoding.EncodeToString(priv.N.Bytes()),
		E:   base64.RawURLEncoding.EncodeToString(big.NewInt(int64(priv.E)).Bytes()),
	})
	if err != nil {
		return nil, fmt.Errorf("open signing key %s: marshal JWK: %w", sk.ID, err)
	}
	return &opened{
		sealed: bytes.Clone(sk.PrivateSealed),
		pkix:   pkix,
		priv:   priv,
		pem:    pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix}),
		jwk:    jwk,
	}, nil
}

// jwkJSON fixes the member order of a published key; it has no field that
// could carry private material.
type jwkJSON struct {
	Kty string `json:"kty"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	N   string `json:"n"`
	E   string `json:"e"`
}

// JWKS is the published key set as served: Body is the JSON document and
// ETag its strong entity tag (quoted base64url SHA-256 of Body).
type JWKS struct {
	Body []byte
	ETag string
}

// snapshot is what the readers see: a key set and everything derived from it
// for the interval [from, until) in which no key changes state. Nothing in it
// is modified after it is published.
type snapshot struct {
	entries     []*entry
	from, until time.Time // until zero: no state change ahead

	signing   *entry
	published []Key
	public    map[string]*rsa.PublicKey
	jwks      JWKS

	// JWKS response header values, shared by every response.
	etag          []string
	contentLength []string
}

func newSnapshot(entries []*entry, at time.Time) *snapshot {
	s := &snapshot{
		entries: entries,
		from:    at,
		public:  make(map[string]*rsa.PublicKey, len(entries)),
	}
	body := []byte(`{"keys":[`)
	for _, e := range entries {
		for _, b := range [...]time.Time{e.key.ActivatesAt, e.key.RetiresAt, e.key.ExpiresAt} {
			if b.After(at) && (s.until.IsZero() || b.Before(s.until)) {
				s.until = b
			}
		}
		st := e.key.StateAt(at)
		if !st.Published() {
			continue
		}
		if st == StateActive && (s.signing == nil || signsBefore(s.signing.key, e.key)) {
			s.signing = e
		}
		s.published = append(s.published, e.public)
		s.public[e.key.ID] = e.key.Public
		if len(s.published) > 1 {
			body = append(body, ',')
		}
		body = append(body, e.jwk...)
	}
	body = append(body, "]}"...)
	sum := sha256.Sum256(body)
	s.jwks = JWKS{Body: body, ETag: `"` + base64.RawURLEncoding.EncodeToString(sum[:]) + `"`}
	s.etag = []string{s.jwks.ETag}
	s.contentLength = []string{strconv.Itoa(len(body))}
	// Callers get this slice; capping it makes their appends copy.
	s.published = s.published[:len(s.published):len(s.published)]
	return s
}

// signsBefore reports whether b should sign instead of a when both are
// active: the later activation wins, and ties break the same way on every
// instance.
func signsBefore(a, b Key) bool {
	if c := a.ActivatesAt.Compare(b.ActivatesAt); c != 0 {
		return c < 0
	}
	if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
		return c < 0
	}
	return a.ID < b.ID
}

// current returns the snapshot valid now, or nil before Load. When a key
// has changed state since the snapshot was built, it derives a new one from
// the same keys: that happens once per state change, not per call.
func (m *Manager) current() *snapshot {
	s := m.snap.Load()
	if s == nil {
		return nil
	}
	now := m.now()
	if !now.Before(s.from) && (s.until.IsZero() || now.Before(s.until)) {
		return s
	}
	next := newSnapshot(s.entries, now)
	// Losing the race to Refresh or another reader is fine: the winner is
	// at least as fresh, and this caller still gets a correct answer.
	m.snap.CompareAndSwap(s, next)
	return next
}

// Signing returns the key to sign with now: of the active keys, the one that
// activated last. The Key is shared and must not be modified.
func (m *Manager) Signing() (*Key, error) {
	s := m.current()
	switch {
	case s == nil:
		return nil, errNotLoaded
	case s.signing == nil:
		return nil, ErrNoSigningKey
	}
	return &s.signing.key, nil
}

// PublicKey returns the public key of a published (next, active or retired)
// key, for verifying tokens by their kid.
func (m *Manager) PublicKey(kid string) (*rsa.PublicKey, bool) {
	s := m.current()
	if s == nil {
		return nil, false
	}
	pub, ok := s.public[kid]
	return pub, ok
}

// Published returns the published keys, oldest first, without their private
// parts. The slice and keys are shared and must not be modified.
func (m *Manager) Published() []Key {
	s := m.current()
	if s == nil {
		return nil
	}
	return s.published
}

// JWKS returns the published key set document; the zero JWKS before Load.
// Body is shared and must not be modified.
func (m *Manager) JWKS() JWKS {
	s := m.current()
	if s == nil {
		return JWKS{}
	}
	return s.jwks
}

// PublicKeyPEM returns the signing key's public key as a PKIX "PUBLIC KEY"
// PEM block, and its kid. The bytes are shared and must not be modified.
func (m *Manager) PublicKeyPEM() ([]byte, string, error) {
	s := m.current()
	switch {
	case s == nil:
		return nil, "", errNotLoaded
	case s.signing == nil:
		return nil, "", ErrNoSigningKey
	}
	return s.signing.pem, s.signing.key.ID, nil
}

// Ready reports whether a key can sign now: the keystore's part of /ready.
func (m *Manager) Ready() bool {
	s := m.current()
	return s != nil && s.signing != nil
}
