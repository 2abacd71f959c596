package keystore_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/internal/testclock"
	"github.com/authd/authd/keystore"
)

func pemManager(t *testing.T, dir string, now func() time.Time) *keystore.Manager {
	t.Helper()
	// The zero KEK: a PEMStore brings its own.
	opts := append(withSchedule(testSchedule), keystore.WithClock(now), noGenerate(t))
	return newManager(t, keystore.NewPEMStore(dir), keystore.KEK{}, 0, opts...)
}

func writePEM(t *testing.T, dir string, i int, at time.Time) string {
	t.Helper()
	path, err := keystore.WritePEM(dir, testKeys(t)[i], at)
	if err != nil {
		t.Fatalf("WritePEM: %v", err)
	}
	return path
}

// TestPEMStoreLifecycle: keys follow their files' names and the clock: a
// file named for a future time is next, the latest activated signs, the
// one it replaced stays published RetiredFor and then expires.
func TestPEMStoreLifecycle(t *testing.T) {
	const keep = 16 * time.Minute // testSchedule.RetiredFor
	dir := t.TempDir()
	t1 := t0.Add(2 * time.Hour)
	p0 := writePEM(t, dir, 0, t0)
	p1 := writePEM(t, dir, 1, t1.Add(999*time.Millisecond)) // named to the second
	if want := filepath.Join(dir, "20300601T120000Z.pem"); p0 != want {
		t.Errorf("first file %s, want %s", p0, want)
	}
	if want := filepath.Join(dir, "20300601T140000Z.pem"); p1 != want {
		t.Errorf("second file %s, want %s", p1, want)
	}
	for _, p := range []string{p0, p1} {
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if mode := info.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s has mode %o, want 600", p, mode)
		}
	}
	a, b := kidOf(t, testKeys(t)[0]), kidOf(t, testKeys(t)[1])

	clk := testclock.New(t0.Add(-time.Second))
	m := pemManager(t, dir, clk.Now)
	if err := m.Load(t.Context()); err != nil {
		t.Fatalf("Load: %v", err)
	}
	for _, tc := range []struct {
		name      string
		at        time.Time
		signing   string
		published []string
		states    []keystore.State
	}{
		{"both next", t0.Add(-time.Second), "", []string{a, b}, []keystore.State{keystore.StateNext, keystore.StateNext}},
		{"first active", t0, a, []string{a, b}, []keystore.State{keystore.StateActive, keystore.StateNext}},
		{"just before the second", t1.Add(-time.Nanosecond), a, []string{a, b}, []keystore.State{keystore.StateActive, keystore.StateNext}},
		{"second active, first retired", t1, b, []string{a, b}, []keystore.State{keystore.StateRetired, keystore.StateActive}},
		{"first still published", t1.Add(keep - time.Nanosecond), b, []string{a, b}, []keystore.State{keystore.StateRetired, keystore.StateActive}},
		{"first expired", t1.Add(keep), b, []string{b}, []keystore.State{keystore.StateActive}},
	} {
		clk.Set(tc.at)
		// Maintain only re-reads a PEM directory.
		if err := m.Maintain(t.Context()); err != nil {
			t.Fatalf("%s: Maintain: %v", tc.name, err)
		}
		k, err := m.Signing()
		switch {
		case tc.signing == "" && !errors.Is(err, keystore.ErrNoSigningKey):
			t.Errorf("%s: Signing = %v, %v; want none", tc.name, k, err)
		case tc.signing != "" && (err != nil || k.ID != tc.signing):
			t.Errorf("%s: Signing = %v, %v; want %s", tc.name, k, err, tc.signing)
		}
		var states []keystore.State
		for _, p := range m.Published() {
			states = append(states, p.StateAt(tc.at))
		}
		if got := publishedKids(m); !slices.Equal(got, tc.published) || !slices.Equal(states, tc.states) {
			t.Errorf("%s: published %v %v, want %v %v", tc.name, got, states, tc.published, tc.states)
		}
	}
	if p := m.Published(); len(p) != 1 || !p[0].RetiresAt.IsZero() {
		t.Errorf("the newest PEM key has a retirement: %+v", p)
	}

	// A file added later is published on the next pass.
	writePEM(t, dir, 2, t1.Add(time.Hour))
	if err := m.Maintain(t.Context()); err != nil {
		t.Fatalf("Maintain: %v", err)
	}
	if got := publishedKids(m); !slices.Equal(got, []string{b, kidOf(t, testKeys(t)[2])}) {
		t.Fatalf("after adding a file published %v", got)
	}
}

func TestPEMStoreReadOnly(t *testing.T) {
	dir := t.TempDir()
	writePEM(t, dir, 0, t0)
	store := keystore.NewPEMStore(dir)
	before, err := store.ListKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	called := false
	err = store.UpdateKeys(t.Context(), func(k []keystore.StoredKey) ([]keystore.StoredKey, error) {
		called = true
		return k, nil
	})
	if !errors.Is(err, keystore.ErrReadOnly) || !strings.Contains(err.Error(), dir) || called {
		t.Fatalf("UpdateKeys = %v (fn called: %v), want ErrReadOnly naming %s", err, called, dir)
	}
	clk := testclock.New(t0.AddDate(1, 0, 0)) // long overdue for rotation
	m := pemManager(t, dir, clk.Now)
	if err := m.Load(t.Context()); err != nil {
		t.Fatalf("Load: %v", err)
	}
	if _, _, err := m.Rotate(t.Context()); !errors.Is(err, keystore.ErrReadOnly) {
		t.Errorf("Rotate = %v, want ErrReadOnly", err)
	}
	if err := m.Maintain(t.Context()); err != nil {
		t.Errorf("Maintain = %v, want a plain re-read", err)
	}
	if _, err := keystore.Rekey(t.Context(), store, testKEK, otherKEK); !errors.Is(err, keystore.ErrReadOnly) {
		t.Errorf("Rekey = %v, want ErrReadOnly", err)
	}
	after, err := store.ListKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// An unchanged file lists the same sealed bytes, so the Manager does
	// not open it again on every pass.
	if !slices.EqualFunc(before, after, sameStored) {
		t.Error("listing an unchanged directory twice gave different keys")
	}
}

func TestPEMStoreEmptyDirectoryFailsLoad(t *testing.T) {
	dir := t.TempDir()
	m := pemManager(t, dir, testclock.New(t0).Now)
	err := m.Load(t.Context())
	if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "holds no key") || !strings.Contains(err.Error(), "GeneratePEM") {
		t.Fatalf("Load on an empty directory = %v, want a message naming it and how to add a key", err)
	}
	if m.Ready() {
		t.Fatal("Ready after a failed Load")
	}
}

func TestPEMStoreFiles(t *testing.T) {
	keys := testKeys(t)
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(keys[2])})
	pkcs8 := func(i int) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(keys[i])
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKCS8PrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&keys[0].PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	encrypted := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-256-CBC,00"}, Bytes: []byte("x")})

	t.Run("accepted", func(t *testing.T) {
		dir := t.TempDir()
		files := map[string][]byte{
			"20300601T120000Z.pem":  pkcs1,                     // PKCS#1
			".20300601T130000Z.pem": []byte("hidden: skipped"), // dot files are skipped
			".generate-123.tmp":     []byte("temporary"),
			"README":                []byte("not a key"),
		}
		for name, b := range files {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		// Kubernetes secret volumes link each name into a dot directory.
		if err := os.Mkdir(filepath.Join(dir, "..data"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "..data", "20300601T140000Z.pem"), pkcs8(1), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join("..data", "20300601T140000Z.pem"), filepath.Join(dir, "20300601T140000Z.pem")); err != nil {
			t.Fatal(err)
		}
		got, err := keystore.NewPEMStore(dir).ListKeys(t.Context())
		if err != nil {
			t.Fatalf("ListKeys: %v", err)
		}
		if len(got) != 2 || got[0].ID != kidOf(t, keys[2]) || got[1].ID != kidOf(t, keys[1]) ||
			!got[0].ActivatesAt.Equal(t0) || !got[1].ActivatesAt.Equal(t0.Add(2*time.Hour)) || !got[0].CreatedAt.Equal(t0) {
			t.Fatalf("ListKeys = %v", got)
		}
		for i, k := range got {
			if !k.RetiresAt.IsZero() || !k.ExpiresAt.IsZero() {
				t.Errorf("%s: stored retirement %v / expiry %v, want them computed, not stored", k.ID, k.RetiresAt, k.ExpiresAt)
			}
			d := keys[[]int{2, 1}[i]].D.Bytes()
			if bytes.Contains(k.PrivateSealed, d[:16]) {
				t.Errorf("%s: ListKeys returns the private key in the clear", k.ID)
			}
		}
	})

	for _, tc := range []struct {
		name  string
		files map[string][]byte
		want  string
	}{
		{"name not a time", map[string][]byte{"jwt-private.pem": pkcs8(0)}, "activation time"},
		{"not PEM", map[string][]byte{"20300601T120000Z.pem": []byte("garbage")}, "no PEM block"},
		{"two blocks", map[string][]byte{"20300601T120000Z.pem": append(pkcs8(0), pkcs8(1)...)}, "more than one PEM block"},
		{"encrypted", map[string][]byte{"20300601T120000Z.pem": encrypted}, "encrypted"},
		{"public key", map[string][]byte{"20300601T120000Z.pem": pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})}, "not an RSA private key"},
		{"EC key", map[string][]byte{"20300601T120000Z.pem": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER})}, "not an RSA key"},
		{"corrupt PKCS#1", map[string][]byte{"20300601T120000Z.pem": pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: []byte("x")})}, "PKCS#1"},
		{"same key twice", map[string][]byte{"20300601T120000Z.pem": pkcs8(0), "20300601T130000Z.pem": pkcs8(0)}, "same key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, b := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, err := keystore.NewPEMStore(dir).ListKeys(t.Context())
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), dir) {
				t.Fatalf("ListKeys = %v, want an error naming the file and saying %q", err, tc.want)
			}
			for _, b := range tc.files {
				if body := bytes.Split(b, []byte("\n")); len(body) > 2 && bytes.Contains([]byte(err.Error()), body[1]) {
					t.Fatalf("error quotes the file: %v", err)
				}
			}
		})
	}

	t.Run("directory missing", func(t *testing.T) {
		if _, err := keystore.NewPEMStore(filepath.Join(t.TempDir(), "nope")).ListKeys(t.Context()); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("ListKeys = %v, want not-exist", err)
		}
	})
}

func TestGeneratePEM(t *testing.T) {
	dir := t.TempDir()
	if _, err := keystore.GeneratePEM(dir, 1024, t0); err == nil {
		t.Error("GeneratePEM made a 1024-bit key")
	}
	if _, err := keystore.GeneratePEM(dir, 2048, time.Time{}); err == nil {
		t.Error("GeneratePEM without an activation time succeeded")
	}
	path, err := keystore.GeneratePEM(dir, 2048, t0.In(time.FixedZone("X", 3600)))
	if err != nil {
		t.Fatalf("GeneratePEM: %v", err)
	}
	if want := filepath.Join(dir, "20300601T120000Z.pem"); path != want {
		t.Errorf("GeneratePEM wrote %s, want %s", path, want)
	}
	if _, err := keystore.WritePEM(dir, testKeys(t)[0], t0); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("writing over an existing key file = %v, want an error", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want the key file alone", len(entries))
	}
	keys, err := keystore.NewPEMStore(dir).ListKeys(t.Context())
	if err != nil || len(keys) != 1 || !keys[0].ActivatesAt.Equal(t0) {
		t.Fatalf("ListKeys after GeneratePEM = %v, %v", keys, err)
	}
}
