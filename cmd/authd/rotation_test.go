package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authd/authd/internal/testenv"
	"github.com/authd/authd/keystore"
	"github.com/authd/authd/token/verifier"
)

const testIssuer = "http://authd.test"

// gateway is a verifier in front of one instance, as a Go service would
// run it: the instance's JWKS cached for exactly its max-age. Its one
// allowed refetch on an unknown kid is spent up front, so a token whose
// kid it has not seen fails instead of being rescued by a refetch.
func gateway(t *testing.T, s *server) *verifier.Verifier {
	t.Helper()
	addr := strings.TrimPrefix(s.URL, "http://")
	client := &http.Client{Transport: &http.Transport{
		// The issuer is a name every instance shares; this gateway's
		// fetches go to its own instance.
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
	keys, err := verifier.NewRemoteKeySet(context.Background(), testIssuer,
		verifier.WithHTTPClient(client), verifier.WithMinCacheAge(100*time.Millisecond),
		verifier.WithRefetchInterval(time.Hour))
	if err != nil {
		t.Fatalf("gateway: %v", err)
	}
	keys.PublicKey("spend-the-refetch")
	return verifier.New(keys, testIssuer)
}

// TestRotationAcrossInstances: three instances on one PostgreSQL rotate
// every few seconds while tokens minted on each are verified by gateways
// of the others: no verification may fail, and the racing instances must
// rotate exactly once per due period.
func TestRotationAcrossInstances(t *testing.T) {
	dbURL := testenv.PostgresURL(t)
	env := func() map[string]string {
		return map[string]string{
			"DATABASE_URL": dbURL, "REDIS_URL": testenv.RedisURL(t), "REDIS_PREFIX": testenv.Prefix(t),
			"JWT_ISSUER": testIssuer, "JWT_ACCESS_TOKEN_TTL": "5s",
			"KEYS_ROTATION_PERIOD": "5s", "KEYS_JWKS_MAX_AGE": "1s", "KEYS_POLL_INTERVAL": "500ms", "KEYS_LEEWAY": "500ms",
		}
	}
	var instances []*server
	for range 3 {
		instances = append(instances, startServer(t, env()))
	}
	gateways := make([]*verifier.Verifier, len(instances))
	sessions := make([]string, len(instances))
	for i, s := range instances {
		gateways[i] = gateway(t, s)
		r := s.postForm("/token", adminPassword())
		if r.Status != http.StatusOK {
			t.Fatalf("login on instance %d: %d %s", i, r.Status, r.Body)
		}
		sessions[i] = str(t, r.JSON(t), "refresh_token")
	}

	// Record every key row ever stored, to count rotations.
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	created := map[string]time.Time{}
	recordKeys := func() {
		rows, err := conn.Query(context.Background(), "SELECT kid, created_at FROM signing_keys")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var kid string
			var at time.Time
			if err := rows.Scan(&kid, &at); err != nil {
				t.Fatal(err)
			}
			created[kid] = at
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}

	var verified, failed atomic.Int64
	kidsSigned := sync.Map{}
	deadline := time.Now().Add(20 * time.Second)
	for tick := 0; time.Now().Before(deadline); tick++ {
		i := tick % len(instances)
		r := instances[i].postForm("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {sessions[i]}})
		if r.Status != http.StatusOK {
			t.Fatalf("refresh on instance %d: %d %s", i, r.Status, r.Body)
		}
		m := r.JSON(t)
		sessions[i] = str(t, m, "refresh_token")
		access := str(t, m, "access_token")
		h, _ := jwtParts(t, access)
		kidsSigned.Store(h["kid"], true)
		for j, g := range gateways {
			if j == i {
				continue
			}
			if _, err := g.Verify(access); err != nil {
				failed.Add(1)
				t.Errorf("tick %d: token from instance %d (kid %v) failed at gateway %d: %v", tick, i, h["kid"], j, err)
			} else {
				verified.Add(1)
			}
		}
		if tick%5 == 0 {
			recordKeys()
		}
		time.Sleep(50 * time.Millisecond)
	}
	recordKeys()

	if failed.Load() != 0 || verified.Load() == 0 {
		t.Fatalf("%d verifications failed, %d succeeded", failed.Load(), verified.Load())
	}
	var times []time.Time
	for _, at := range created {
		times = append(times, at)
	}
	sort.Slice(times, func(a, b int) bool { return times[a].Before(times[b]) })
	signed := 0
	kidsSigned.Range(func(any, any) bool { signed++; return true })
	// First key at start, then one rotation each time the newest key has
	// been active for the period: around 5 s + 2 s activation delay apart.
	if len(times) < 3 || signed < 2 {
		t.Fatalf("%d keys stored, %d signed tokens in 20 s: rotation did not run", len(times), signed)
	}
	for k := 1; k < len(times); k++ {
		if gap := times[k].Sub(times[k-1]); gap < 4*time.Second {
			t.Errorf("keys %d and %d created %v apart: more than one rotation in a period", k-1, k, gap)
		}
	}
	t.Logf("%d verifications, %d keys over the run, %d of them signed", verified.Load(), len(times), signed)
}

// TestRestartAndKeyMaterial: tokens minted before a restart verify after
// it, and no private key material is stored or logged in plaintext.
func TestRestartAndKeyMaterial(t *testing.T) {
	dbURL := testenv.PostgresURL(t)
	env := map[string]string{"DATABASE_URL": dbURL, "REDIS_URL": testenv.RedisURL(t), "REDIS_PREFIX": testenv.Prefix(t),
		"JWT_ISSUER": "http://authd.test", "APP_LOG_LEVEL": "debug"}
	first := startServer(t, env)
	access := str(t, first.postForm("/token", adminPassword()).JSON(t), "access_token")
	logs := first.Logs.String()

	second := startServer(t, env)
	if r := second.do(http.MethodGet, "/userinfo", "", nil, bearer(access)); r.Status != http.StatusOK {
		t.Fatalf("token from before the restart: %d %s", r.Status, r.Body)
	}
	logs += second.Logs.String()

	// Open the stored key with the (development) KEK to learn what must
	// never appear in plaintext.
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var kid string
	var sealed []byte
	if err := conn.QueryRow(context.Background(), "SELECT kid, private_key_enc FROM signing_keys").Scan(&kid, &sealed); err != nil {
		t.Fatal(err)
	}
	kek, err := keystore.ParseKEK(devKEK)
	if err != nil {
		t.Fatal(err)
	}
	der, err := kek.Open(kid, sealed)
	if err != nil {
		t.Fatal(err)
	}
	// A 48-byte window from the middle of the PKCS#8 encoding lies inside
	// the private exponent or primes.
	secret := der[len(der)/2 : len(der)/2+48]

	var dump bytes.Buffer
	tables, err := conn.Query(context.Background(), "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for tables.Next() {
		var n string
		_ = tables.Scan(&n)
		names = append(names, n)
	}
	for _, n := range names {
		rows, err := conn.Query(context.Background(), fmt.Sprintf("SELECT t::text FROM %s t", pgx.Identifier{n}.Sanitize()))
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var line string
			_ = rows.Scan(&line)
			dump.WriteString(line + "\n")
		}
	}
	for name, hay := range map[string]string{"tables": dump.String(), "logs": logs} {
		for _, enc := range []string{hex.EncodeToString(secret), string(secret), "PRIVATE KEY"} {
			if strings.Contains(strings.ToLower(hay), strings.ToLower(enc)) {
				t.Errorf("private key material in plaintext in %s", name)
			}
		}
	}
	if dump.Len() == 0 || !strings.Contains(logs, "level=") {
		t.Fatalf("nothing was searched: %d bytes of tables, %d of logs", dump.Len(), len(logs))
	}
}

// TestKeysCLIAndAdmin: `authd keys list|rotate` and the admin RPC act on the
// keys serve uses.
func TestKeysCLIAndAdmin(t *testing.T) {
	dbURL := testenv.PostgresURL(t)
	env := map[string]string{"DATABASE_URL": dbURL, "REDIS_URL": testenv.RedisURL(t), "REDIS_PREFIX": testenv.Prefix(t),
		"ADMIN_TOKEN_HASH":  secretHash("admin-token-0123456789"),
		"KEYS_JWKS_MAX_AGE": "2s", "KEYS_POLL_INTERVAL": "200ms"}
	s := startServer(t, env)

	var out bytes.Buffer
	if err := run(context.Background(), []string{"keys", "rotate"}, &out, envOf(env)); err != nil {
		t.Fatalf("keys rotate: %v", err)
	}
	if !strings.Contains(out.String(), "created") || !strings.Contains(out.String(), "next") {
		t.Fatalf("keys rotate printed %q", out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"keys", "list"}, &out, envOf(env)); err != nil {
		t.Fatalf("keys list: %v", err)
	}
	if !strings.Contains(out.String(), "active") || !strings.Contains(out.String(), "next") {
		t.Fatalf("keys list printed %q", out.String())
	}

	admin := map[string]string{"Authorization": "Bearer admin-token-0123456789"}
	if r := s.do(http.MethodGet, "/api/v1/admin/keys", "", nil, nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("admin without token: %d %s", r.Status, r.Body)
	}
	if r := s.do(http.MethodGet, "/api/v1/admin/keys", "", nil, map[string]string{"Authorization": "Bearer wrong"}); r.Status != http.StatusUnauthorized {
		t.Fatalf("admin with a wrong token: %d %s", r.Status, r.Body)
	}
	// The instance picks the CLI's rotation up within its poll interval.
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := s.do(http.MethodGet, "/api/v1/admin/keys", "", nil, admin)
		if r.Status != http.StatusOK {
			t.Fatalf("admin list: %d %s", r.Status, r.Body)
		}
		if strings.Count(string(r.Body), `"kid"`) == 2 && strings.Contains(string(r.Body), `"next"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rotation not picked up: %s", r.Body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Rotating again while a key is pending returns that key.
	r := s.postJSON("/api/v1/admin/keys/rotate", `{}`, admin)
	if r.Status != http.StatusOK || str(t, r.JSON(t), "key.state") != "next" {
		t.Fatalf("admin rotate: %d %s", r.Status, r.Body)
	}
	// Disabled without a configured hash.
	plain := startServer(t, nil)
	if r := plain.do(http.MethodGet, "/api/v1/admin/keys", "", nil, admin); r.Status != http.StatusForbidden {
		t.Fatalf("admin API without admin.token_hash: %d %s", r.Status, r.Body)
	}
}
