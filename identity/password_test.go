package identity_test

import (
	"context"
	"encoding/base64"
	"errors"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/authd/authd/identity"
)

// cheap are argon2id parameters that keep tests fast.
var cheap = identity.HashParams{Memory: 64, Iterations: 1, Parallelism: 1}

func newHasher(t *testing.T, p identity.HashParams, concurrency int) *identity.Hasher {
	t.Helper()
	h, err := identity.NewHasher(p, concurrency)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func verify(t *testing.T, h *identity.Hasher, phc, password string) (ok, needsRehash bool) {
	t.Helper()
	ok, needsRehash, err := h.Verify(context.Background(), phc, password)
	if err != nil {
		t.Fatalf("Verify(%q): %v", password, err)
	}
	return ok, needsRehash
}

func TestHashRoundTrip(t *testing.T) {
	ctx := context.Background()
	h := newHasher(t, cheap, 0)
	phc, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	format := regexp.MustCompile(`^\$argon2id\$v=19\$m=64,t=1,p=1\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$`)
	m := format.FindStringSubmatch(phc)
	if m == nil {
		t.Fatalf("Hash = %q, not a PHC argon2id string with the configured parameters", phc)
	}
	for i, n := range []int{16, 32} {
		b, err := base64.RawStdEncoding.DecodeString(m[i+1])
		if err != nil || len(b) != n {
			t.Errorf("field %q: %d bytes, %v; want %d bytes of unpadded standard base64", m[i+1], len(b), err, n)
		}
	}
	if ok, rehash := verify(t, h, phc, "correct horse battery staple"); !ok || rehash {
		t.Errorf("Verify(right password) = %v, %v; want true, false", ok, rehash)
	}
	for _, wrong := range []string{"", "correct horse battery stapl", "Correct horse battery staple", "correct horse battery staple "} {
		if ok, rehash := verify(t, h, phc, wrong); ok || rehash {
			t.Errorf("Verify(%q) = %v, %v; want false, false", wrong, ok, rehash)
		}
	}
	again, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if again == phc {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
}

func TestHashDefaultParams(t *testing.T) {
	h := newHasher(t, identity.DefaultHashParams(), 0)
	phc, err := h.Hash(context.Background(), "password123")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(phc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("Hash = %q, want OWASP's m=19456,t=2,p=1", phc)
	}
}

// Hashes made by the reference implementation (the argon2 command, from
// phc-winner-argon2):
//
//	echo -n "correct horse battery staple" | argon2 somesaltsomesalt -id -t 2 -k 64 -p 1 -l 32 -e
const (
	referenceHash = "$argon2id$v=19$m=64,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Sr6N/nCmohWCvF7EZislLIdwA8ojCXux0K30ccqFS30"
	// ... -t 1 -k 64 -p 2 -l 24 with salt "somesalt": a short salt and key.
	referenceShortHash = "$argon2id$v=19$m=64,t=1,p=2$c29tZXNhbHQ$fqReZtIM2zY+mz52F4Iv4UqKVEzLHQgn"
	// "ﬁnal password", whose NFKC form is "final password".
	referenceLigatureHash = "$argon2id$v=19$m=64,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$HKEwTwOfTO++HbQIteS1dCpXWwROmd5+EjotYNALceA"
	referenceNFKCHash     = "$argon2id$v=19$m=64,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$zF6HD5sb+wlYJlvrpzuOVXUShnSa512rOpSeMA32D9E"
)

func TestVerifyReferenceHashes(t *testing.T) {
	same := newHasher(t, identity.HashParams{Memory: 64, Iterations: 2, Parallelism: 1}, 0)
	if ok, rehash := verify(t, same, referenceHash, "correct horse battery staple"); !ok || rehash {
		t.Errorf("Verify(reference, same parameters) = %v, %v; want true, false", ok, rehash)
	}
	if ok, _ := verify(t, same, referenceHash, "correct horse battery stapler"); ok {
		t.Error("Verify(reference, wrong password) = true")
	}
	if ok, rehash := verify(t, same, referenceShortHash, "correct horse battery staple"); !ok || !rehash {
		t.Errorf("Verify(short salt and key) = %v, %v; want true, true", ok, rehash)
	}
	other := newHasher(t, cheap, 0)
	if ok, rehash := verify(t, other, referenceHash, "correct horse battery staple"); !ok || !rehash {
		t.Errorf("Verify(reference, other parameters) = %v, %v; want true, true", ok, rehash)
	}
}

func TestPasswordsAreNFKCNormalised(t *testing.T) {
	h := newHasher(t, identity.HashParams{Memory: 64, Iterations: 2, Parallelism: 1}, 0)
	// Only the normalised form is ever hashed, so a hash of the ligature
	// spelling, made without normalising, is not what authd would store.
	if ok, _ := verify(t, h, referenceNFKCHash, "ﬁnal password"); !ok {
		t.Error("the ligature spelling does not verify against the hash of its NFKC form")
	}
	if ok, _ := verify(t, h, referenceLigatureHash, "ﬁnal password"); ok {
		t.Error("a password was verified without NFKC normalisation")
	}
	phc, err := h.Hash(context.Background(), "ｆｕｌｌｗｉｄｔｈ")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := verify(t, h, phc, "fullwidth"); !ok {
		t.Error("a fullwidth password does not verify as its NFKC form")
	}
}

func TestVerifyBcrypt(t *testing.T) {
	h := newHasher(t, cheap, 0)
	hash, err := bcrypt.GenerateFromPassword([]byte("password123"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	// The three prefixes name the same algorithm (2b and 2y fix bugs of
	// other implementations that x/crypto never had).
	for _, prefix := range []string{"$2a$", "$2b$", "$2y$"} {
		phc := prefix + string(hash[4:])
		if ok, rehash := verify(t, h, phc, "password123"); !ok || !rehash {
			t.Errorf("Verify(%s…, right password) = %v, %v; want true, true", prefix, ok, rehash)
		}
		if ok, rehash := verify(t, h, phc, "password124"); ok || rehash {
			t.Errorf("Verify(%s…, wrong password) = %v, %v; want false, false", prefix, ok, rehash)
		}
	}

	// Imported hashes were made from passwords as typed.
	raw, err := bcrypt.GenerateFromPassword([]byte("ﬁnal password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := verify(t, h, string(raw), "ﬁnal password"); !ok {
		t.Error("a bcrypt hash of a password that NFKC changes does not verify")
	}
	if ok, _ := verify(t, h, string(raw), "final password"); ok {
		t.Error("a bcrypt hash of the ligature spelling verified the NFKC spelling")
	}
}

func TestVerifyMalformed(t *testing.T) {
	h := newHasher(t, cheap, 0)
	salt := "c29tZXNhbHRzb21lc2FsdA"
	key := "Sr6N/nCmohWCvF7EZislLIdwA8ojCXux0K30ccqFS30"
	argon := func(version, params, salt, key string) string {
		return "$argon2id$" + version + "$" + params + "$" + salt + "$" + key
	}
	bcryptHash, err := bcrypt.GenerateFromPassword([]byte("password123"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]string{
		"empty":                 "",
		"plain text":            "password123",
		"argon2i":               "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key,
		"argon2d":               "$argon2d$v=19$m=64,t=1,p=1$" + salt + "$" + key,
		"scrypt":                "$scrypt$ln=16,r=8,p=1$" + salt + "$" + key,
		"prefix only":           "$argon2id$",
		"no key":                "$argon2id$v=19$m=64,t=1,p=1$" + salt,
		"extra field":           argon("v=19", "m=64,t=1,p=1", salt, key) + "$x",
		"no version":            "$argon2id$m=64,t=1,p=1$" + salt + "$" + key,
		"version 16":            argon("v=16", "m=64,t=1,p=1", salt, key),
		"version garbage":       argon("v=nineteen", "m=64,t=1,p=1", salt, key),
		"params out of order":   argon("v=19", "t=1,m=64,p=1", salt, key),
		"params missing":        argon("v=19", "m=64,t=1", salt, key),
		"params extra":          argon("v=19", "m=64,t=1,p=1,k=2", salt, key),
		"params not numbers":    argon("v=19", "m=x,t=1,p=1", salt, key),
		"params signed":         argon("v=19", "m=+64,t=1,p=1", salt, key),
		"zero iterations":       argon("v=19", "m=64,t=0,p=1", salt, key),
		"zero parallelism":      argon("v=19", "m=64,t=1,p=0", salt, key),
		"parallelism overflows": argon("v=19", "m=64,t=1,p=256", salt, key),
		"memory below 8p":       argon("v=19", "m=15,t=1,p=2", salt, key),
		"memory overflows":      argon("v=19", "m=4294967296,t=1,p=1", salt, key),
		"memory absurd":         argon("v=19", "m=4294967295,t=1,p=1", salt, key),
		"salt not base64":       argon("v=19", "m=64,t=1,p=1", "not*base64", key),
		"salt padded":           argon("v=19", "m=64,t=1,p=1", salt+"==", key),
		"salt too short":        argon("v=19", "m=64,t=1,p=1", "c2FsdA", key),
		"key empty":             argon("v=19", "m=64,t=1,p=1", salt, ""),
		"key too short":         argon("v=19", "m=64,t=1,p=1", salt, "a2V5a2V5"),
		"key not base64":        argon("v=19", "m=64,t=1,p=1", salt, "!!!!"),
		"bcrypt truncated":      string(bcryptHash[:30]),
		"bcrypt bad cost":       "$2a$99$" + string(bcryptHash[7:]),
		"bcrypt unknown minor":  "$2x$" + string(bcryptHash[4:]),
		"bcrypt major 3":        "$3a$" + string(bcryptHash[4:]),
	}
	for name, phc := range tests {
		t.Run(name, func(t *testing.T) {
			ok, rehash, err := h.Verify(context.Background(), phc, "correct horse battery staple")
			if !errors.Is(err, identity.ErrInvalidHash) || ok || rehash {
				t.Errorf("Verify = %v, %v, %v; want false, false, ErrInvalidHash", ok, rehash, err)
			}
			if err != nil && phc != "" && strings.Contains(err.Error(), phc) {
				t.Errorf("error %q contains the hash", err)
			}
		})
	}
}

func TestNewHasherRefusesUnusableParams(t *testing.T) {
	for _, p := range []identity.HashParams{
		{Memory: 64, Iterations: 0, Parallelism: 1},
		{Memory: 64, Iterations: 1, Parallelism: 0},
		{Memory: 7, Iterations: 1, Parallelism: 1},
		{Memory: 1<<20 + 1, Iterations: 1, Parallelism: 1},
	} {
		if _, err := identity.NewHasher(p, 1); err == nil {
			t.Errorf("NewHasher(%+v) succeeded", p)
		}
	}
}

// TestVerifyDummyCostsAVerification compares the fastest of a few runs of
// each, which noise from other processes can only slow down.
func TestVerifyDummyCostsAVerification(t *testing.T) {
	// Not timed (timings flake on a loaded machine): argon2id allocates its
	// memory parameter on every call, so allocation shows the dummy runs the
	// same argon2id as a real verification.
	ctx := context.Background()
	params := identity.HashParams{Memory: 4096, Iterations: 1, Parallelism: 1}
	h := newHasher(t, params, 1)
	phc, err := h.Hash(ctx, "password123")
	if err != nil {
		t.Fatal(err)
	}
	allocated := func(op func()) uint64 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		op()
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	verify := allocated(func() { _, _, _ = h.Verify(ctx, phc, "wrong password") })
	dummy := allocated(func() { _ = h.VerifyDummy(ctx, "wrong password") })
	argonBytes := uint64(params.Memory) << 10
	if verify < argonBytes || dummy < argonBytes {
		t.Fatalf("allocated %d (verify) and %d (dummy) bytes, want both >= %d: argon2id did not run", verify, dummy, argonBytes)
	}
	if dummy < verify*9/10 {
		t.Errorf("VerifyDummy allocated %d bytes, Verify %d: want the same work", dummy, verify)
	}
}

// TestConcurrencyLimit fills the slots and checks that every operation
// then waits, gives up when its context ends, and runs once a slot frees.
func TestConcurrencyLimit(t *testing.T) {
	ctx := context.Background()
	h := newHasher(t, cheap, 2)
	phc, err := h.Hash(ctx, "password123")
	if err != nil {
		t.Fatal(err)
	}
	var releases []func()
	for range 2 {
		release, err := h.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		releases = append(releases, release)
	}

	ops := map[string]func(context.Context) error{
		"Hash": func(ctx context.Context) error { _, err := h.Hash(ctx, "password123"); return err },
		"Verify": func(ctx context.Context) error {
			_, _, err := h.Verify(ctx, phc, "password123")
			return err
		},
		"VerifyDummy": func(ctx context.Context) error { return h.VerifyDummy(ctx, "password123") },
	}
	for name, op := range ops {
		ctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		err := op(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s with every slot taken: %v, want context.DeadlineExceeded", name, err)
		}
	}

	done := make(chan error, 1)
	go func() { done <- ops["Verify"](ctx) }()
	select {
	case err := <-done:
		t.Fatalf("Verify returned (%v) while every slot was taken", err)
	case <-time.After(20 * time.Millisecond):
	}
	releases[0]()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Verify after a slot freed: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Verify still waiting after a slot freed")
	}
	releases[1]()
}

func TestConcurrencyDefaultsToNumCPU(t *testing.T) {
	h := newHasher(t, cheap, 0)
	for i := range runtime.NumCPU() {
		if _, err := h.Acquire(context.Background()); err != nil {
			t.Fatalf("slot %d: %v", i+1, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := h.Acquire(ctx); err == nil {
		t.Errorf("slot %d of a pool sized to %d CPUs was granted", runtime.NumCPU()+1, runtime.NumCPU())
	}
}
