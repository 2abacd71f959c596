package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// The seed's example configuration loads as written.
const seedConfig = `
server:
  host: "0.0.0.0"
  port: "8080"
database:
  host: "localhost"
  port: "5432"
  user: "auth1"
  password: "password"
  name: "auth1"
redis:
  host: "localhost"
  port: "6379"
jwt:
  access_token_ttl: 900 # 15 minutes
  refresh_token_ttl: 604800 # 7 days
email:
  service_url: "http://localhost:8081"
  timeout: 30
  retry_count: 3
app:
  log_level: "info"
  otp_length: 6
  otp_ttl: 300 # 5 minutes
`

func TestConfigPrecedence(t *testing.T) {
	p := writeConfig(t, seedConfig)
	cfg, err := loadConfig([]string{"--config", p, "--server.port=7000"}, envOf(map[string]string{
		"SERVER_PORT": "9000", "DATABASE_HOST": "db.internal", "JWT_ACCESS_TOKEN_TTL": "10m",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.Port != "7000" {
		t.Errorf("flag did not override env: port %s", cfg.Server.Port)
	}
	if cfg.Database.Host != "db.internal" || cfg.Database.User != "auth1" {
		t.Errorf("env did not override file: %+v", cfg.Database)
	}
	if cfg.JWT.AccessTokenTTL.D() != 10*time.Minute || cfg.JWT.RefreshTokenTTL.D() != 7*24*time.Hour {
		t.Errorf("durations: %v %v", cfg.JWT.AccessTokenTTL.D(), cfg.JWT.RefreshTokenTTL.D())
	}
	if cfg.issuer() != "http://localhost:7000" {
		t.Errorf("default issuer %q", cfg.issuer())
	}
	if got := cfg.databaseURL(); got != "postgres://auth1:password@db.internal:5432/auth1" {
		t.Errorf("database URL %q", got)
	}
}

func TestConfigURLs(t *testing.T) {
	cfg, err := loadConfig(nil, envOf(map[string]string{
		"DATABASE_URL": "postgres://u@h/db", "REDIS_URL": "redis://r:6379/1", "JWT_ISSUER": "https://id.example.com",
		"JWT_REFRESH_TOKEN_REUSE_INTERVAL": "5",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.databaseURL() != "postgres://u@h/db" || cfg.redisURL() != "redis://r:6379/1" || cfg.issuer() != "https://id.example.com" {
		t.Fatalf("%s %s %s", cfg.databaseURL(), cfg.redisURL(), cfg.issuer())
	}
	if cfg.JWT.RefreshTokenReuseInterval.D() != 5*time.Second {
		t.Fatalf("reuse interval %v", cfg.JWT.RefreshTokenReuseInterval.D())
	}
}

// TestConfigErrorsNameTheKey: a bad configuration fails start-up with a
// message naming what is wrong.
func TestConfigErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct {
		name string
		file string
		env  map[string]string
		args []string
		want string
	}{
		{"unknown key", "server:\n  prot: 80\n", nil, nil, "prot"},
		{"unknown section", "serverr:\n  port: 80\n", nil, nil, "serverr"},
		{"bad duration", "jwt:\n  access_token_ttl: soon\n", nil, nil, "soon"},
		{"bad env int", "", map[string]string{"KEYS_SIZE": "big"}, nil, "KEYS_SIZE"},
		{"bad env duration", "", map[string]string{"APP_OTP_TTL": "-5"}, nil, "APP_OTP_TTL"},
		{"bad environment", "", map[string]string{"APP_ENVIRONMENT": "prod"}, nil, "app.environment"},
		{"bad log level", "", map[string]string{"APP_LOG_LEVEL": "loud"}, nil, "app.log_level"},
		{"bad port", "", map[string]string{"SERVER_PORT": "http"}, nil, "server.port"},
		{"bad key size", "", map[string]string{"KEYS_SIZE": "1024"}, nil, "keys.size"},
		{"huge grace", "", map[string]string{"JWT_REFRESH_TOKEN_REUSE_INTERVAL": "1h"}, nil, "jwt.refresh_token_reuse_interval"},
		{"bad issuer", "", map[string]string{"JWT_ISSUER": "auth.example.com"}, nil, "jwt.issuer"},
		{"unknown flag", "", nil, []string{"--server.prot=1"}, "server.prot"},
		{"production memory", "", map[string]string{"APP_ENVIRONMENT": "production"}, nil, "database.url"},
		{"production secret", "", map[string]string{"APP_ENVIRONMENT": "production", "DATABASE_URL": "postgres://h/db", "REDIS_URL": "redis://r"}, nil, "app.secret"},
		{"production kek", "", map[string]string{"APP_ENVIRONMENT": "production", "DATABASE_URL": "postgres://h/db", "REDIS_URL": "redis://r",
			"APP_SECRET": strings.Repeat("s", 40), "JWT_ISSUER": "https://id.example.com"}, nil, "keys.encryption_key"},
		{"production http issuer", "", map[string]string{"APP_ENVIRONMENT": "production", "JWT_ISSUER": "http://id.example.com"}, nil, "https issuer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.file != "" {
				args = append([]string{"--config", writeConfig(t, tc.file)}, args...)
			}
			_, err := loadConfig(args, envOf(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}

func TestConfigKEKFromFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "kek")
	if err := os.WriteFile(p, []byte("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(nil, envOf(map[string]string{"KEYS_ENCRYPTION_KEY_FILE": p}))
	if err != nil || cfg.Keys.EncryptionKey != "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY" {
		t.Fatalf("%v %q", err, cfg.Keys.EncryptionKey)
	}
	if _, err := loadConfig(nil, envOf(map[string]string{"KEYS_ENCRYPTION_KEY_FILE": p + ".missing"})); err == nil || !strings.Contains(err.Error(), "keys.encryption_key_file") {
		t.Fatalf("missing file: %v", err)
	}
}

func TestConfigRefusesUnsafeKeySchedule(t *testing.T) {
	_, err := loadConfig(nil, envOf(map[string]string{"KEYS_ROTATION_PERIOD": "10m", "KEYS_JWKS_MAX_AGE": "10m"}))
	if err == nil || !strings.Contains(err.Error(), "keys.rotation_period") {
		t.Fatalf("rotation period shorter than the publication lead: %v", err)
	}
}
