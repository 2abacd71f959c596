package keystore_test

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authd/authd/internal/testclock"
	"github.com/authd/authd/internal/testenv"
	"github.com/authd/authd/keystore"
)

// testKeys are the only RSA keys the tests generate: 2048-bit generation is
// slow, and the tests share two CPU cores with others.
var testKeys = func() func(t testing.TB) []*rsa.PrivateKey {
	keys := sync.OnceValues(func() ([]*rsa.PrivateKey, error) {
		out := make([]*rsa.PrivateKey, 3)
		for i := range out {
			k, err := keystore.Generate(nil, 2048)
			if err != nil {
				return nil, err
			}
			out[i] = k
		}
		return out, nil
	})
	return func(t testing.TB) []*rsa.PrivateKey {
		t.Helper()
		k, err := keys()
		if err != nil {
			t.Fatalf("generate test keys: %v", err)
		}
		return k
	}
}()

var (
	testKEK  = keystore.KEK(kekBytes)
	otherKEK = keystore.KEK(bytes.Repeat([]byte{7}, 32))
	t0       = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
)

// newManager returns a Manager whose generated keys come from testKeys in
// turn, starting at the key index start.
func newManager(t *testing.T, store keystore.Store, kek keystore.KEK, start int, opts ...keystore.Option) *keystore.Manager {
	t.Helper()
	keys := testKeys(t)
	var next atomic.Int64
	next.Store(int64(start))
	opts = append([]keystore.Option{
		keystore.WithLogger(slog.New(slog.NewTextHandler(t.Output(), nil))),
		keystore.WithGenerator(func(bits int) (*rsa.PrivateKey, error) {
			if bits != 2048 {
				t.Errorf("asked to generate %d bits, want 2048", bits)
			}
			return keys[int(next.Add(1)-1)%len(keys)], nil
		}),
	}, opts...)
	return keystore.NewManager(store, kek, opts...)
}

// noGenerate fails the test if the Manager tries to create a key.
func noGenerate(t *testing.T) keystore.Option {
	return keystore.WithGenerator(func(int) (*rsa.PrivateKey, error) {
		t.Error("Manager generated a key, want it to load the stored one")
		return nil, errors.New("no generation in this test")
	})
}

// storedKey seals priv the way the Manager does.
func storedKey(t *testing.T, kek keystore.KEK, priv *rsa.PrivateKey, k keystore.Key) keystore.StoredKey {
	t.Helper()
	kid, err := keystore.Thumbprint(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := kek.Seal(kid, der)
	if err != nil {
		t.Fatal(err)
	}
	return keystore.StoredKey{
		ID: kid, PublicKey: pub, PrivateSealed: sealed,
		CreatedAt: k.CreatedAt, ActivatesAt: k.ActivatesAt, RetiresAt: k.RetiresAt, ExpiresAt: k.ExpiresAt,
	}
}

func kidOf(t *testing.T, priv *rsa.PrivateKey) string {
	t.Helper()
	kid, err := keystore.Thumbprint(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return kid
}

// fakeStore serves a key list as given, unsorted and unchecked, and can be
// made to fail.
type fakeStore struct {
	mu   sync.Mutex
	keys []keystore.StoredKey
	err  error
}

func (s *fakeStore) ListKeys(context.Context) ([]keystore.StoredKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	return slices.Clone(s.keys), nil
}

func (s *fakeStore) UpdateKeys(_ context.Context, fn func([]keystore.StoredKey) ([]keystore.StoredKey, error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	keys, err := fn(slices.Clone(s.keys))
	if err != nil {
		return err
	}
	s.keys = keys
	return nil
}

func (s *fakeStore) set(keys []keystore.StoredKey, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys, s.err = keys, err
}

type storeCase struct {
	name string
	new  func(t *testing.T) keystore.Store
}

var stores = []storeCase{
	{"memory", func(*testing.T) keystore.Store { return keystore.NewMemoryStore() }},
	{"postgres", func(t *testing.T) keystore.Store { return keystore.NewPostgresStore(testenv.Postgres(t)) }},
}

func TestInvalidOptionsFailLoad(t *testing.T) {
	for _, tc := range []struct {
		name  string
		store keystore.Store
		kek   keystore.KEK
		opts  []keystore.Option
	}{
		{"no store", nil, testKEK, nil},
		{"zero KEK", keystore.NewMemoryStore(), keystore.KEK{}, nil},
		{"1024-bit keys", keystore.NewMemoryStore(), testKEK, []keystore.Option{keystore.WithKeySize(1024)}},
		{"negative max-age", keystore.NewMemoryStore(), testKEK, []keystore.Option{keystore.WithJWKSMaxAge(-time.Second)}},
		{"nil clock", keystore.NewMemoryStore(), testKEK, []keystore.Option{keystore.WithClock(nil)}},
		{"nil logger", keystore.NewMemoryStore(), testKEK, []keystore.Option{keystore.WithLogger(nil)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := keystore.NewManager(tc.store, tc.kek, append(tc.opts, noGenerate(t))...)
			if err := m.Load(t.Context()); err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			if err := m.Refresh(t.Context()); err == nil {
				t.Fatal("Refresh succeeded, want an error")
			}
			if m.Ready() {
				t.Fatal("Ready after a failed Load")
			}
		})
	}
}

func TestLoadCreatesFirstKeyOnce(t *testing.T) {
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			store := sc.new(t)
			clk := testclock.New(t0.Add(123456789 * time.Nanosecond))
			m1 := newManager(t, store, testKEK, 0, keystore.WithClock(clk.Now))
			if err := m1.Load(t.Context()); err != nil {
				t.Fatalf("Load: %v", err)
			}
			stored, err := store.ListKeys(t.Context())
			if err != nil {
				t.Fatalf("ListKeys: %v", err)
			}
			if len(stored) != 1 {
				t.Fatalf("store holds %d keys after Load, want 1", len(stored))
			}
			sk := stored[0]
			if want := kidOf(t, testKeys(t)[0]); sk.ID != want {
				t.Errorf("stored kid %s, want the generated key's thumbprint %s", sk.ID, want)
			}
			wantTime := t0.Add(123456 * time.Microsecond)
			if !sk.CreatedAt.Equal(wantTime) || !sk.ActivatesAt.Equal(wantTime) || !sk.RetiresAt.IsZero() || !sk.ExpiresAt.IsZero() {
				t.Errorf("stored times created=%v activates=%v retires=%v expires=%v, want created=activates=%v (now, to the microsecond), others zero",
					sk.CreatedAt, sk.ActivatesAt, sk.RetiresAt, sk.ExpiresAt, wantTime)
			}
			k1, err := m1.Signing()
			if err != nil {
				t.Fatalf("Signing: %v", err)
			}
			if k1.ID != sk.ID || k1.StateAt(clk.Now()) != keystore.StateActive || !m1.Ready() {
				t.Fatalf("Signing = %s (%v), Ready = %v; want stored key %s, active", k1.ID, k1.StateAt(clk.Now()), m1.Ready(), sk.ID)
			}

			m2 := newManager(t, store, testKEK, 1, keystore.WithClock(clk.Now), noGenerate(t))
			if err := m2.Load(t.Context()); err != nil {
				t.Fatalf("second Manager Load: %v", err)
			}
			k2, err := m2.Signing()
			if err != nil {
				t.Fatalf("second Manager Signing: %v", err)
			}
			if k2.ID != k1.ID || !k2.Private.Equal(k1.Private) {
				t.Fatalf("second Manager signs with %s, want %s", k2.ID, k1.ID)
			}
			if stored, _ := store.ListKeys(t.Context()); len(stored) != 1 {
				t.Fatalf("store holds %d keys after the second Load, want 1", len(stored))
			}
		})
	}
}

func TestConcurrentLoad(t *testing.T) {
	// Each Manager gets its own pool, as separate authd processes would.
	dbURL := testenv.PostgresURL(t)
	managers := make([]*keystore.Manager, len(testKeys(t)))
	for i := range managers {
		pool, err := pgxpool.New(t.Context(), dbURL)
		if err != nil {
			t.Fatalf("open pool: %v", err)
		}
		t.Cleanup(pool.Close)
		managers[i] = newManager(t, keystore.NewPostgresStore(pool), testKEK, i)
	}
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make([]error, len(managers))
	)
	for i, m := range managers {
		wg.Go(func() {
			<-start
			errs[i] = m.Load(t.Context())
		})
	}
	close(start)
	wg.Wait()

	var kids []string
	for i, m := range managers {
		if errs[i] != nil {
			t.Fatalf("Load %d: %v", i, errs[i])
		}
		k, err := m.Signing()
		if err != nil {
			t.Fatalf("Signing %d: %v", i, err)
		}
		kids = append(kids, k.ID)
	}
	if len(slices.Compact(slices.Clone(kids))) != 1 {
		t.Fatalf("managers sign with different keys: %v", kids)
	}
	pool, err := pgxpool.New(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	stored, err := keystore.NewPostgresStore(pool).ListKeys(t.Context())
	if err != nil {
		t.Fatalf("ListKeys: %v", err)
	}
	if len(stored) != 1 || stored[0].ID != kids[0] {
		t.Fatalf("store holds %d keys, want exactly %s", len(stored), kids[0])
	}
}

func TestLoadWrongKEK(t *testing.T) {
	store := keystore.NewMemoryStore()
	m1 := newManager(t, store, testKEK, 0)
	if err := m1.Load(t.Context()); err != nil {
		t.Fatalf("Load: %v", err)
	}
	kid := kidOf(t, testKeys(t)[0])

	m2 := newManager(t, store, otherKEK, 0, noGenerate(t))
	err := m2.Load(t.Context())
	if err == nil {
		t.Fatal("Load with the wrong KEK succeeded")
	}
	for _, want := range []string{kid, "key-encryption key"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Load error %q does not mention %q", err, want)
		}
	}
	if m2.Ready() {
		t.Error("Manager is Ready after a failed Load")
	}
}

func TestLoadRejectsInconsistentRow(t *testing.T) {
	keys := testKeys(t)
	good := storedKey(t, testKEK, keys[0], keystore.Key{CreatedAt: t0, ActivatesAt: t0})
	otherPub := storedKey(t, testKEK, keys[1], keystore.Key{}).PublicKey

	wrongPublic := good
	wrongPublic.PublicKey = otherPub

	// Sealed under another key's kid, so it opens but its thumbprint
	// disagrees.
	wrongKid := good
	wrongKid.ID = kidOf(t, keys[1])
	der, err := x509.MarshalPKCS8PrivateKey(keys[0])
	if err != nil {
		t.Fatal(err)
	}
	if wrongKid.PrivateSealed, err = testKEK.Seal(wrongKid.ID, der); err != nil {
		t.Fatal(err)
	}

	notRSA := good
	if notRSA.PrivateSealed, err = testKEK.Seal(good.ID, []byte("not PKCS#8")); err != nil {
		t.Fatal(err)
	}

	tampered := good
	tampered.PrivateSealed = bytes.Clone(good.PrivateSealed)
	tampered.PrivateSealed[20] ^= 1

	for _, tc := range []struct {
		name string
		row  keystore.StoredKey
		want string
	}{
		{"public key of another key", wrongPublic, "public key does not match"},
		{"kid of another key", wrongKid, "thumbprint"},
		{"not a PKCS#8 key", notRSA, "PKCS#8"},
		{"tampered ciphertext", tampered, "key-encryption key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newManager(t, &fakeStore{keys: []keystore.StoredKey{tc.row}}, testKEK, 0)
			err := m.Load(t.Context())
			if err == nil {
				t.Fatal("Load succeeded")
			}
			if !strings.Contains(err.Error(), tc.row.ID) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load error %q, want it to name %s and say %q", err, tc.row.ID, tc.want)
			}
		})
	}
}

func TestSealedHidesPrivateKey(t *testing.T) {
	store := keystore.NewMemoryStore()
	m := newManager(t, store, testKEK, 0)
	if err := m.Load(t.Context()); err != nil {
		t.Fatalf("Load: %v", err)
	}
	k, err := m.Signing()
	if err != nil {
		t.Fatal(err)
	}
	stored, err := store.ListKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	sealed := stored[0].PrivateSealed
	pkcs8, err := x509.MarshalPKCS8PrivateKey(k.Private)
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string][]byte{
		"PKCS#8 DER": pkcs8,
		"PKCS#1 DER": x509.MarshalPKCS1PrivateKey(k.Private),
		"D":          k.Private.D.Bytes(),
	}
	for i, p := range k.Private.Primes {
		secrets["prime "+string(rune('p'+i))] = p.Bytes()
	}
	for name, s := range secrets {
		// A 16-byte window of the secret is enough to call it leaked.
		if bytes.Contains(sealed, s[:16]) || bytes.Contains(sealed, s[len(s)-16:]) {
			t.Errorf("sealed private key contains the %s in plaintext", name)
		}
	}
}

func TestReadersBeforeLoad(t *testing.T) {
	m := newManager(t, keystore.NewMemoryStore(), testKEK, 0)
	if _, err := m.Signing(); !errors.Is(err, keystore.ErrNoSigningKey) {
		t.Errorf("Signing = %v, want ErrNoSigningKey", err)
	}
	if _, _, err := m.PublicKeyPEM(); !errors.Is(err, keystore.ErrNoSigningKey) {
		t.Errorf("PublicKeyPEM = %v, want ErrNoSigningKey", err)
	}
	if _, ok := m.PublicKey("x"); ok {
		t.Error("PublicKey found a key")
	}
	if p := m.Published(); p != nil {
		t.Errorf("Published = %v, want nil", p)
	}
	if j := m.JWKS(); j.Body != nil || j.ETag != "" {
		t.Errorf("JWKS = %+v, want zero", j)
	}
	if m.Ready() {
		t.Error("Ready before Load")
	}
}

// TestKeyLifecycle walks stored keys through their states with the clock
// alone: the readers notice state changes without a Refresh.
func TestKeyLifecycle(t *testing.T) {
	keys := testKeys(t)
	a, b := kidOf(t, keys[0]), kidOf(t, keys[1])
	t1, t2, t3 := t0.Add(time.Hour), t0.Add(2*time.Hour), t0.Add(3*time.Hour)
	store := &fakeStore{keys: []keystore.StoredKey{
		storedKey(t, testKEK, keys[0], keystore.Key{CreatedAt: t0, ActivatesAt: t0, RetiresAt: t2, ExpiresAt: t3}),
		storedKey(t, testKEK, keys[1], keystore.Key{CreatedAt: t1, ActivatesAt: t2}),
	}}
	clk := testclock.New(t0.Add(-time.Minute))
	m := newManager(t, store, testKEK, 0, keystore.WithClock(clk.Now))
	if err := m.Load(t.Context()); err != nil {
		t.Fatalf("Load: %v", err)
	}

	etags := map[string]bool{}
	for _, tc := range []struct {
		name      string
		at        time.Time
		signing   string // "" when none
		published []string
	}{
		{"before any activation", t0.Add(-time.Minute), "", []string{a, b}},
		{"a active, b next", t0, a, []string{a, b}},
		{"just before rotation", t2.Add(-time.Nanosecond), a, []string{a, b}},
		{"b active, a retired", t2, b, []string{a, b}},
		{"a expired", t3, b, []string{b}},
		{"clock set back", t0, a, []string{a, b}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk.Set(tc.at)
			k, err := m.Signing()
			switch {
			case tc.signing == "" && !errors.Is(err, keystore.ErrNoSigningKey):
				t.Errorf("Signing = %v, %v; want ErrNoSigningKey", k, err)
			case tc.signing != "" && (err != nil || k.ID != tc.signing):
				t.Errorf("Signing = %v, %v; want %s", k, err, tc.signing)
			}
			if got := m.Ready(); got != (tc.signing != "") {
				t.Errorf("Ready = %v", got)
			}
			var got []string
			for _, p := range m.Published() {
				got = append(got, p.ID)
				if p.Private != nil {
					t.Errorf("Published key %s carries its private key", p.ID)
				}
			}
			if !slices.Equal(got, tc.published) {
				t.Errorf("Published = %v, want %v", got, tc.published)
			}
			for _, kid := range []string{a, b} {
				_, ok := m.PublicKey(kid)
				if want := slices.Contains(tc.published, kid); ok != want {
					t.Errorf("PublicKey(%s) found = %v, want %v", kid, ok, want)
				}
			}
			if got := jwksKids(t, m.JWKS().Body); !slices.Equal(got, tc.published) {
				t.Errorf("JWKS kids = %v, want %v", got, tc.published)
			}
			etags[strings.Join(tc.published, ",")+"|"+m.JWKS().ETag] = true
		})
	}
	// One ETag per distinct key set, none shared between sets.
	if len(etags) != 2 {
		t.Errorf("ETags per published set: %v, want 2 entries", etags)
	}
}

func TestSigningPicksLatestActivation(t *testing.T) {
	keys := testKeys(t)
	early := storedKey(t, testKEK, keys[0], keystore.Key{CreatedAt: t0, ActivatesAt: t0})
	late := storedKey(t, testKEK, keys[1], keystore.Key{CreatedAt: t0, ActivatesAt: t0.Add(time.Hour)})
	tieA := storedKey(t, testKEK, keys[1], keystore.Key{CreatedAt: t0, ActivatesAt: t0})
	tieB := storedKey(t, testKEK, keys[2], keystore.Key{CreatedAt: t0, ActivatesAt: t0})
	tieWinner := max(tieA.ID, tieB.ID)
	for _, tc := range []struct {
		name string
		rows []keystore.StoredKey
		want string
	}{
		{"later activation wins", []keystore.StoredKey{early, late}, late.ID},
		{"in any order", []keystore.StoredKey{late, early}, late.ID},
		{"tie broken by kid", []keystore.StoredKey{tieA, tieB}, tieWinner},
		{"tie broken the same way in any order", []keystore.StoredKey{tieB, tieA}, tieWinner},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := testclock.New(t0.Add(2 * time.Hour))
			m := newManager(t, &fakeStore{keys: tc.rows}, testKEK, 0, keystore.WithClock(clk.Now))
			if err := m.Load(t.Context()); err != nil {
				t.Fatalf("Load: %v", err)
			}
			k, err := m.Signing()
			if err != nil || k.ID != tc.want {
				t.Fatalf("Signing = %v, %v; want %s", k, err, tc.want)
			}
		})
	}
}

func TestRefresh(t *testing.T) {
	keys := testKeys(t)
	first := storedKey(t, testKEK, keys[0], keystore.Key{CreatedAt: t0, ActivatesAt: t0})
	second := storedKey(t, testKEK, keys[1], keystore.Key{CreatedAt: t0, ActivatesAt: t0.Add(time.Hour)})
	store := &fakeStore{keys: []keystore.StoredKey{first}}
	clk := testclock.New(t0)
	m := newManager(t, store, testKEK, 0, keystore.WithClock(clk.Now))
	if err := m.Load(t.Context()); err != nil {
		t.Fatalf("Load: %v", err)
	}
	before, err := m.Signing()
	if err != nil {
		t.Fatal(err)
	}

	store.set([]keystore.StoredKey{first, second}, nil)
	if err := m.Refresh(t.Context()); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if got := len(m.Published()); got != 2 {
		t.Fatalf("Published after Refresh: %d keys, want 2", got)
	}
	after, err := m.Signing()
	if err != nil {
		t.Fatal(err)
	}
	if after.ID != first.ID || after.Private != before.Private {
		t.Error("Refresh did not reuse the already opened signing key")
	}
	jwks := m.JWKS()

	for _, tc := range []struct {
		name string
		keys []keystore.StoredKey
		err  error
	}{
		{"store fails", nil, errors.New("connection refused")},
		{"store empty", nil, nil},
		{"row does not open", []keystore.StoredKey{storedKey(t, otherKEK, keys[2], keystore.Key{CreatedAt: t0, ActivatesAt: t0})}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store.set(tc.keys, tc.err)
			if err := m.Refresh(t.Context()); err == nil {
				t.Fatal("Refresh succeeded")
			}
			if k, err := m.Signing(); err != nil || k.ID != first.ID {
				t.Errorf("after a failed Refresh Signing = %v, %v; want the cached %s", k, err, first.ID)
			}
			if got := m.JWKS(); got.ETag != jwks.ETag {
				t.Error("a failed Refresh changed the JWKS")
			}
		})
	}
}

// TestConcurrentReaders is for the race detector: readers run while Refresh
// swaps snapshots and the clock crosses a state change.
func TestConcurrentReaders(t *testing.T) {
	keys := testKeys(t)
	rows := []keystore.StoredKey{
		storedKey(t, testKEK, keys[0], keystore.Key{CreatedAt: t0, ActivatesAt: t0, RetiresAt: t0.Add(time.Second)}),
		storedKey(t, testKEK, keys[1], keystore.Key{CreatedAt: t0, ActivatesAt: t0.Add(time.Second)}),
	}
	store := &fakeStore{keys: rows}
	clk := testclock.New(t0)
	m := newManager(t, store, testKEK, 0, keystore.WithClock(clk.Now))
	if err := m.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := m.Signing(); err != nil {
					t.Error(err)
					return
				}
				m.PublicKey(kidOf(t, keys[0]))
				_ = m.JWKS()
				_ = m.Published()
			}
		})
	}
	for i := range 50 {
		clk.Set(t0.Add(time.Duration(i) * 40 * time.Millisecond))
		if err := m.Refresh(t.Context()); err != nil {
			t.Error(err)
		}
	}
	close(stop)
	wg.Wait()
}

func TestJWKS(t *testing.T) {
	m := newManager(t, keystore.NewMemoryStore(), testKEK, 0)
	if err := m.Load(t.Context()); err != nil {
		t.Fatalf("Load: %v", err)
	}
	signing, err := m.Signing()
	if err != nil {
		t.Fatal(err)
	}
	jwks := m.JWKS()

	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(jwks.Body, &doc); err != nil {
		t.Fatalf("JWKS body is not JSON: %v\n%s", err, jwks.Body)
	}
	if len(doc.Keys) != 1 {
		t.Fatalf("JWKS has %d keys, want 1", len(doc.Keys))
	}
	jwk := doc.Keys[0]
	var members []string
	for name := range jwk {
		members = append(members, name)
	}
	slices.Sort(members)
	if want := []string{"alg", "e", "kid", "kty", "n", "use"}; !slices.Equal(members, want) {
		t.Errorf("JWK members %v, want exactly %v (no private members)", members, want)
	}
	for name, want := range map[string]string{
		"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kidOf(t, signing.Private), "e": "AQAB",
		"n": base64.RawURLEncoding.EncodeToString(signing.Public.N.Bytes()),
	} {
		if jwk[name] != want {
			t.Errorf("JWK %s = %v, want %v", name, jwk[name], want)
		}
	}
	sum := sha256.Sum256(jwks.Body)
	if want := `"` + base64.RawURLEncoding.EncodeToString(sum[:]) + `"`; jwks.ETag != want {
		t.Errorf("ETag = %s, want %s", jwks.ETag, want)
	}

	// A verifier that knows only the JWKS accepts what the signing key signs.
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(jwks.Body, &set); err != nil {
		t.Fatalf("go-jose cannot parse the JWKS: %v", err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: signing.Private},
		(&jose.SignerOptions{}).WithHeader(jose.HeaderKey("kid"), signing.ID))
	if err != nil {
		t.Fatal(err)
	}
	obj, err := signer.Sign([]byte("payload"))
	if err != nil {
		t.Fatal(err)
	}
	compact, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := jose.ParseSignedCompact(compact, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	found := set.Key(parsed.Signatures[0].Header.KeyID)
	if len(found) != 1 || !found[0].IsPublic() {
		t.Fatalf("JWKS lookup of kid %s found %d keys", parsed.Signatures[0].Header.KeyID, len(found))
	}
	payload, err := parsed.Verify(found[0])
	if err != nil || string(payload) != "payload" {
		t.Fatalf("Verify with the JWKS key = %q, %v", payload, err)
	}
}

func TestPublicKeyPEM(t *testing.T) {
	m := newManager(t, keystore.NewMemoryStore(), testKEK, 0)
	if err := m.Load(t.Context()); err != nil {
		t.Fatalf("Load: %v", err)
	}
	signing, err := m.Signing()
	if err != nil {
		t.Fatal(err)
	}
	b, kid, err := m.PublicKeyPEM()
	if err != nil {
		t.Fatalf("PublicKeyPEM: %v", err)
	}
	if kid != signing.ID {
		t.Errorf("PublicKeyPEM kid %s, want %s", kid, signing.ID)
	}
	block, rest := pem.Decode(b)
	if block == nil || block.Type != "PUBLIC KEY" || len(rest) != 0 {
		t.Fatalf("PublicKeyPEM is not one PUBLIC KEY block:\n%s", b)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatalf("parse PKIX: %v", err)
	}
	if !signing.Public.Equal(pub) {
		t.Fatal("PublicKeyPEM is not the signing key")
	}
	if got, ok := m.PublicKey(kid); !ok || !got.Equal(pub) {
		t.Fatal("PublicKey(kid) is not the signing key")
	}
}

// TestReadersDoNotAllocate holds the hot-path promise: once a snapshot is
// built, reading it costs no allocation.
func TestReadersDoNotAllocate(t *testing.T) {
	m := newManager(t, keystore.NewMemoryStore(), testKEK, 0)
	if err := m.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	kid := kidOf(t, testKeys(t)[0])
	for name, f := range map[string]func(){
		"Signing":      func() { _, _ = m.Signing() },
		"PublicKey":    func() { _, _ = m.PublicKey(kid) },
		"Published":    func() { _ = m.Published() },
		"JWKS":         func() { _ = m.JWKS() },
		"PublicKeyPEM": func() { _, _, _ = m.PublicKeyPEM() },
		"Ready":        func() { _ = m.Ready() },
	} {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s allocates %v times per call", name, n)
		}
	}
}

func jwksKids(t *testing.T, body []byte) []string {
	t.Helper()
	var doc struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("JWKS body is not JSON: %v", err)
	}
	var kids []string
	for _, k := range doc.Keys {
		kids = append(kids, k.Kid)
	}
	return kids
}
