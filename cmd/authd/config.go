package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/authd/authd/keystore"
	"github.com/authd/authd/token"
)

// Config is authd's configuration. Each leaf key a.b is read from the YAML
// file, then from env A_B, then from flag --a.b, each overriding the last.
// Section and key names follow seed 000 (server.port, database.host, …).
type Config struct {
	Server struct {
		Host string `yaml:"host"`
		Port string `yaml:"port"`
		// ShutdownTimeout bounds graceful shutdown.
		ShutdownTimeout Duration `yaml:"shutdown_timeout"`
		// TrustedProxies are the CIDRs whose X-Forwarded-For is believed for
		// the client IP that rate limits count; comma-separated in env.
		TrustedProxies []string `yaml:"trusted_proxies"`
	} `yaml:"server"`
	Database struct {
		URL      string `yaml:"url"`
		Host     string `yaml:"host"`
		Port     string `yaml:"port"`
		User     string `yaml:"user"`
		Password string `yaml:"password"`
		Name     string `yaml:"name"`
		SSLMode  string `yaml:"ssl_mode"`
		MaxConns int    `yaml:"max_conns"`
	} `yaml:"database"`
	Redis struct {
		URL      string `yaml:"url"`
		Host     string `yaml:"host"`
		Port     string `yaml:"port"`
		Password string `yaml:"password"`
		DB       int    `yaml:"db"`
		// Prefix of every key authd writes.
		Prefix string `yaml:"prefix"`
	} `yaml:"redis"`
	JWT struct {
		Issuer                    string   `yaml:"issuer"`
		Audience                  string   `yaml:"audience"`
		AccessTokenTTL            Duration `yaml:"access_token_ttl"`
		RefreshTokenTTL           Duration `yaml:"refresh_token_ttl"`
		RefreshTokenReuseInterval Duration `yaml:"refresh_token_reuse_interval"`
		// RefreshTokenIdleTimeout ends a session unused for this long; 0
		// keeps only the absolute lifetime.
		RefreshTokenIdleTimeout Duration `yaml:"refresh_token_idle_timeout"`
	} `yaml:"jwt"`
	Session struct {
		// CleanupInterval is how often ended sessions are deleted (one
		// instance at a time).
		CleanupInterval Duration `yaml:"cleanup_interval"`
		// CleanupRetention keeps ended sessions this long before deleting
		// them, for audit and reuse detection of late replays.
		CleanupRetention Duration `yaml:"cleanup_retention"`
	} `yaml:"session"`
	Keys struct {
		// EncryptionKey is the key-encryption key of the signing keys at
		// rest: 32 bytes, base64 or hex.
		EncryptionKey string `yaml:"encryption_key"`
		// EncryptionKeyFile holds the KEK instead (e.g. a mounted secret);
		// it wins over encryption_key when both are set.
		EncryptionKeyFile string `yaml:"encryption_key_file"`
		// NewEncryptionKey is read only by `authd keys rekey`: the KEK to
		// re-seal every key under.
		NewEncryptionKey string `yaml:"new_encryption_key"`
		Size             int    `yaml:"size"`
		// RotationPeriod is how long a key signs before the next one.
		RotationPeriod Duration `yaml:"rotation_period"`
		// JWKSMaxAge is the JWKS Cache-Control max-age: a new key is
		// published at least this long before it signs.
		JWKSMaxAge Duration `yaml:"jwks_max_age"`
		// PollInterval is how often each instance re-reads the keys
		// (0: min(1m, jwks_max_age/2)).
		PollInterval Duration `yaml:"poll_interval"`
		// Leeway covers clock skew between instances and verifiers.
		Leeway Duration `yaml:"leeway"`
		// Dir, when set, reads keys from PEM files there instead of the
		// database (read-only; see `authd keys generate`).
		Dir string `yaml:"dir"`
	} `yaml:"keys"`
	Admin struct {
		// TokenHash is "sha256:<hex>" of the bearer token of AdminService;
		// unset, the admin API refuses every call.
		TokenHash string `yaml:"token_hash"`
	} `yaml:"admin"`
	Email struct {
		// Provider is http (seed 000's email service), smtp or outbox
		// (development: messages are only shown at /debug/outbox).
		Provider   string   `yaml:"provider"`
		ServiceURL string   `yaml:"service_url"`
		Timeout    Duration `yaml:"timeout"`
		// RetryCount is how often one delivery attempt retries a failing
		// email service at once; the outbox retries later on top.
		RetryCount  int    `yaml:"retry_count"`
		BearerToken string `yaml:"bearer_token"`
		APIKey      string `yaml:"api_key"`
		SMTP        struct {
			Host     string `yaml:"host"`
			Port     int    `yaml:"port"`
			Username string `yaml:"username"`
			Password string `yaml:"password"`
			From     string `yaml:"from"`
			ReplyTo  string `yaml:"reply_to"`
			// TLS is starttls, implicit or none.
			TLS string `yaml:"tls"`
		} `yaml:"smtp"`
	} `yaml:"email"`
	SMS struct {
		// Provider is webhook or outbox.
		Provider      string `yaml:"provider"`
		WebhookURL    string `yaml:"webhook_url"`
		WebhookSecret string `yaml:"webhook_secret"`
	} `yaml:"sms"`
	Delivery struct {
		// MaxAttempts before a message is abandoned.
		MaxAttempts int `yaml:"max_attempts"`
		// TemplatesDir overrides built-in templates file by file.
		TemplatesDir string `yaml:"templates_dir"`
		// Locale of messages.
		Locale string `yaml:"locale"`
		// RetryBase is the first retry delay; delays double (with full
		// jitter) up to RetryMax.
		RetryBase Duration `yaml:"retry_base"`
		RetryMax  Duration `yaml:"retry_max"`
		// Lease is how long an attempt holds a message: a message whose
		// sender died is retried by any instance after it.
		Lease Duration `yaml:"lease"`
	} `yaml:"delivery"`
	// Clients is the OAuth2 client registry (YAML only). Requests that
	// name no client use the built-in first-party client "authd".
	Clients []ClientConfig `yaml:"clients"`
	App     struct {
		Environment string `yaml:"environment"`
		LogLevel    string `yaml:"log_level"`
		Name        string `yaml:"name"`
		// Secret keys the hashes of one-time codes and the derivation of
		// refresh tokens; shared by every instance.
		Secret    string   `yaml:"secret"`
		OTPLength int      `yaml:"otp_length"`
		OTPTTL    Duration `yaml:"otp_ttl"`
		// EmailLinkTTL is the lifetime of verification links.
		EmailLinkTTL Duration `yaml:"email_link_ttl"`
		// EmailLinkGetVerifies makes a GET of the link verify at once, as
		// seed 002 did; off, GET shows a confirm page so mail scanners that
		// prefetch links cannot use them up.
		EmailLinkGetVerifies bool `yaml:"email_link_get_verifies"`
		// NotifyNewSignin emails (or texts) the user at every sign-in.
		NotifyNewSignin bool `yaml:"notify_new_signin"`
		// PasswordBlocklist refuses the 10,000 most common passwords.
		PasswordBlocklist bool `yaml:"password_blocklist"`
		// PasswordMinLength is the shortest password accepted (8 to 128).
		PasswordMinLength int `yaml:"password_min_length"`
		// SignupRevealsExisting answers a signup with a verified address
		// 409, as seed 002 did, at the cost of telling anyone which
		// addresses have accounts. Off by default.
		SignupRevealsExisting bool `yaml:"signup_reveals_existing"`
	} `yaml:"app"`
}

// ClientConfig is one registered client.
type ClientConfig struct {
	ID string `yaml:"id"`
	// SecretHash is "sha256:<hex>" of the secret of a confidential client;
	// empty for a public one. Only the hash is ever configured.
	SecretHash      string   `yaml:"secret_hash"`
	Grants          []string `yaml:"grants"`
	Audience        []string `yaml:"audience"`
	DefaultScope    []string `yaml:"default_scope"`
	AccessTokenTTL  Duration `yaml:"access_token_ttl"`
	RefreshTokenTTL Duration `yaml:"refresh_token_ttl"`
	SigningAlg      string   `yaml:"signing_alg"`
}

// Environments.
const (
	envDevelopment = "development"
	envStaging     = "staging"
	envProduction  = "production"
)

// Development-only defaults for secrets, refused in staging and production.
const (
	devSecret = "authd-development-secret-not-for-production"
	devKEK    = "ZGV2ZWxvcG1lbnQta2V5LWVuY3J5cHRpb24ta2V5ISE" // base64url of 32 fixed bytes
)

func defaultConfig() *Config {
	var c Config
	c.Server.Host = "0.0.0.0"
	c.Server.Port = "8080"
	c.Server.ShutdownTimeout = Duration(15 * time.Second)
	c.Database.Port = "5432"
	c.Database.User = "authd"
	c.Database.Name = "authd"
	c.Database.MaxConns = 20
	c.Redis.Port = "6379"
	c.Redis.Prefix = "authd:"
	c.JWT.AccessTokenTTL = Duration(15 * time.Minute)
	c.JWT.RefreshTokenTTL = Duration(7 * 24 * time.Hour)
	c.JWT.RefreshTokenReuseInterval = Duration(10 * time.Second)
	c.Session.CleanupInterval = Duration(time.Hour)
	c.Session.CleanupRetention = Duration(24 * time.Hour)
	c.Keys.Size = 2048
	c.Keys.RotationPeriod = Duration(30 * 24 * time.Hour)
	c.Keys.JWKSMaxAge = Duration(10 * time.Minute)
	c.Keys.Leeway = Duration(time.Minute)
	c.Email.Provider = "outbox"
	c.Email.Timeout = Duration(30 * time.Second)
	c.Email.RetryCount = 3
	c.Email.SMTP.Port = 587
	c.Email.SMTP.TLS = "starttls"
	c.SMS.Provider = "outbox"
	c.Delivery.MaxAttempts = 10
	c.Delivery.Locale = "en"
	c.Delivery.RetryBase = Duration(2 * time.Second)
	c.Delivery.RetryMax = Duration(time.Hour)
	c.Delivery.Lease = Duration(2 * time.Minute)
	c.App.Environment = envDevelopment
	c.App.LogLevel = "info"
	c.App.Name = "authd"
	c.App.OTPLength = 6
	c.App.OTPTTL = Duration(5 * time.Minute)
	c.App.EmailLinkTTL = Duration(4 * time.Hour)
	c.App.PasswordBlocklist = true
	c.App.PasswordMinLength = 8
	return &c
}

// Duration accepts whole seconds (as the seed's config does: 900) or a Go
// duration string ("15m").
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func parseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("negative duration %q", s)
		}
		return Duration(time.Duration(n) * time.Second), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is neither whole seconds nor a duration like 15m", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("negative duration %q", s)
	}
	return Duration(d), nil
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// leaf is one configuration key bound to its field.
type leaf struct {
	key   string // "server.port"
	env   string // "SERVER_PORT"
	field reflect.Value
}

func leaves(c *Config) []leaf {
	var out []leaf
	var walk func(prefix string, v reflect.Value)
	walk = func(prefix string, v reflect.Value) {
		t := v.Type()
		for i := range t.NumField() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			key := name
			if prefix != "" {
				key = prefix + "." + name
			}
			f := v.Field(i)
			if f.Kind() == reflect.Struct {
				walk(key, f)
				continue
			}
			if f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.Struct {
				continue // lists of records are YAML only
			}
			out = append(out, leaf{key: key, env: strings.ToUpper(strings.ReplaceAll(key, ".", "_")), field: f})
		}
	}
	walk("", reflect.ValueOf(c).Elem())
	return out
}

func (l leaf) set(s string) error {
	switch p := l.field.Addr().Interface().(type) {
	case *string:
		*p = s
	case *int:
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q is not a whole number", s)
		}
		*p = n
	case *Duration:
		d, err := parseDuration(s)
		if err != nil {
			return err
		}
		*p = d
	case *bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		*p = b
	case *[]string:
		*p = nil
		for f := range strings.SplitSeq(s, ",") {
			if f = strings.TrimSpace(f); f != "" {
				*p = append(*p, f)
			}
		}
	default:
		return fmt.Errorf("unsupported type %T", p)
	}
	return nil
}

// loadConfig reads the file (if any), then the environment, then args as
// flags. getenv is os.Getenv outside tests.
func loadConfig(args []string, getenv func(string) string) (*Config, error) {
	c := defaultConfig()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // the error names the flag; `authd help` has the usage
	configPath := fs.String("config", getenv("AUTHD_CONFIG"), "YAML configuration file")
	ls := leaves(c)
	type override struct {
		l leaf
		v string
	}
	var flagged []override
	for _, l := range ls {
		fs.Func(l.key, "overrides "+l.key+" (env "+l.env+")", func(v string) error {
			flagged = append(flagged, override{l, v})
			return nil
		})
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *configPath != "" {
		data, err := os.ReadFile(*configPath)
		if err != nil {
			return nil, fmt.Errorf("read config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("config file %s: %w", *configPath, err)
		}
	}
	for _, l := range ls {
		if v := getenv(l.env); v != "" {
			if err := l.set(v); err != nil {
				return nil, fmt.Errorf("env %s (%s): %w", l.env, l.key, err)
			}
		}
	}
	for _, o := range flagged {
		if err := o.l.set(o.v); err != nil {
			return nil, fmt.Errorf("flag --%s: %w", o.l.key, err)
		}
	}
	if c.Keys.EncryptionKeyFile != "" {
		b, err := os.ReadFile(c.Keys.EncryptionKeyFile)
		if err != nil {
			return nil, fmt.Errorf("keys.encryption_key_file: %w", err)
		}
		c.Keys.EncryptionKey = strings.TrimSpace(string(b))
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// validate checks values and refuses insecure settings outside
// development, naming the key in every message.
func (c *Config) validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	switch c.App.Environment {
	case envDevelopment, envStaging, envProduction:
	default:
		bad("app.environment", "%q is not development, staging or production", c.App.Environment)
	}
	switch strings.ToLower(c.App.LogLevel) {
	case "debug", "info", "warn", "warning", "error":
	default:
		bad("app.log_level", "%q is not debug, info, warn or error", c.App.LogLevel)
	}
	if p, err := strconv.Atoi(c.Server.Port); err != nil || p < 0 || p > 65535 {
		bad("server.port", "%q is not a port number", c.Server.Port)
	}
	if c.JWT.AccessTokenTTL.D() < 5*time.Second || c.JWT.AccessTokenTTL.D() > 24*time.Hour {
		bad("jwt.access_token_ttl", "must be between 5s and 24h")
	}
	if err := c.keySchedule().Validate(); err != nil {
		bad("keys.rotation_period", "%v (keys.jwks_max_age, keys.poll_interval, keys.leeway and the longest token lifetime decide the minimum)", err)
	}
	if c.Admin.TokenHash != "" {
		if _, err := token.ParseSecretHash(c.Admin.TokenHash); err != nil {
			bad("admin.token_hash", "%v", err)
		}
	}
	if c.JWT.RefreshTokenTTL.D() < c.JWT.AccessTokenTTL.D() {
		bad("jwt.refresh_token_ttl", "must be at least jwt.access_token_ttl")
	}
	if c.JWT.RefreshTokenReuseInterval.D() > time.Minute {
		bad("jwt.refresh_token_reuse_interval", "must be at most 60 seconds: it is a window for concurrent retries, not a second lifetime")
	}
	if idle := c.JWT.RefreshTokenIdleTimeout.D(); idle != 0 && idle <= c.JWT.AccessTokenTTL.D() {
		bad("jwt.refresh_token_idle_timeout", "must be 0 or longer than jwt.access_token_ttl, or sessions end between ordinary refreshes")
	}
	switch c.Email.Provider {
	case "outbox":
	case "http":
		if u, err := url.Parse(c.Email.ServiceURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("email.service_url", "%q is not an http(s) URL (email.provider is http)", c.Email.ServiceURL)
		}
	case "smtp":
		if c.Email.SMTP.Host == "" || c.Email.SMTP.From == "" {
			bad("email.smtp.host", "email.smtp.host and email.smtp.from are required when email.provider is smtp")
		}
		switch c.Email.SMTP.TLS {
		case "starttls", "implicit", "none":
		default:
			bad("email.smtp.tls", "%q is not starttls, implicit or none", c.Email.SMTP.TLS)
		}
	default:
		bad("email.provider", "%q is not http, smtp or outbox", c.Email.Provider)
	}
	switch c.SMS.Provider {
	case "outbox":
	case "webhook":
		if u, err := url.Parse(c.SMS.WebhookURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("sms.webhook_url", "%q is not an http(s) URL (sms.provider is webhook)", c.SMS.WebhookURL)
		}
		if len(c.SMS.WebhookSecret) < 32 {
			bad("sms.webhook_secret", "at least 32 characters are required to sign webhook calls")
		}
	default:
		bad("sms.provider", "%q is not webhook or outbox", c.SMS.Provider)
	}
	if c.Delivery.RetryBase.D() <= 0 || c.Delivery.RetryMax.D() < c.Delivery.RetryBase.D() {
		bad("delivery.retry_max", "delivery.retry_base must be positive and delivery.retry_max at least as long")
	}
	if c.Delivery.MaxAttempts < 1 {
		bad("delivery.max_attempts", "must be at least 1")
	}
	// A worker sends a batch in two rounds of email.timeout and records the
	// outcomes; its lease must outlast that or another instance would send
	// the same messages meanwhile.
	if need := 2*c.Email.Timeout.D() + 10*time.Second; c.Delivery.Lease.D() <= need {
		bad("delivery.lease", "must exceed 2 × email.timeout + 10s (%v)", need)
	}
	if c.App.Environment == envProduction && (c.Email.Provider == "outbox" || c.SMS.Provider == "outbox") {
		bad("email.provider", "production needs real delivery: set email.provider (http or smtp) and sms.provider (webhook); the outbox provider only shows messages to developers")
	}
	if c.Email.SMTP.TLS == "none" && c.App.Environment == envProduction {
		bad("email.smtp.tls", "none sends passwords and codes in clear text: refused in production")
	}
	if c.Session.CleanupInterval.D() < time.Minute {
		bad("session.cleanup_interval", "must be at least 1m")
	}
	if c.App.OTPLength != 6 {
		bad("app.otp_length", "only 6 is supported")
	}
	if c.App.OTPTTL.D() < 30*time.Second || c.App.OTPTTL.D() > time.Hour {
		bad("app.otp_ttl", "must be between 30s and 1h")
	}
	if c.App.EmailLinkTTL.D() < time.Minute || c.App.EmailLinkTTL.D() > 7*24*time.Hour {
		bad("app.email_link_ttl", "must be between 1m and 168h")
	}
	if c.App.PasswordMinLength < 8 || c.App.PasswordMinLength > 128 {
		bad("app.password_min_length", "must be between 8 and 128")
	}
	for _, p := range c.Server.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err != nil {
			if _, err := netip.ParseAddr(p); err != nil {
				bad("server.trusted_proxies", "%q is not an IP address or CIDR", p)
			}
		}
	}
	switch c.Keys.Size {
	case 2048, 3072, 4096:
	default:
		bad("keys.size", "%d is not 2048, 3072 or 4096", c.Keys.Size)
	}
	if c.Database.MaxConns < 1 {
		bad("database.max_conns", "must be at least 1")
	}
	if c.JWT.Issuer != "" {
		if u, err := url.Parse(c.JWT.Issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			bad("jwt.issuer", "%q is not an http(s) URL without query or fragment", c.JWT.Issuer)
		}
	}
	seen := map[string]bool{}
	for i, cc := range c.Clients {
		key := fmt.Sprintf("clients[%d]", i)
		if _, err := cc.client(nil); err != nil {
			bad(key, "%v", err)
		}
		if seen[cc.ID] {
			bad(key, "client id %q repeated", cc.ID)
		}
		seen[cc.ID] = true
	}
	if c.App.Environment != envDevelopment {
		if !c.databaseConfigured() {
			bad("database.url", "required in %s: in-memory storage loses every account on restart", c.App.Environment)
		}
		if !c.redisConfigured() {
			bad("redis.url", "required in %s: in-memory storage is not shared between instances", c.App.Environment)
		}
		if c.App.Secret == "" || c.App.Secret == devSecret || len(c.App.Secret) < 32 {
			bad("app.secret", "set a random secret of at least 32 characters (e.g. openssl rand -base64 32) in %s", c.App.Environment)
		}
		if c.Keys.Dir == "" && (c.Keys.EncryptionKey == "" || c.Keys.EncryptionKey == devKEK) {
			bad("keys.encryption_key", "set a 32-byte key (openssl rand -base64 32) in %s", c.App.Environment)
		}
	}
	if c.App.Environment == envProduction {
		if c.JWT.Issuer == "" || !strings.HasPrefix(c.JWT.Issuer, "https://") {
			bad("jwt.issuer", "production needs an https issuer URL")
		}
		if c.Database.SSLMode == "disable" {
			bad("database.ssl_mode", "disable is refused in production")
		}
	}
	return errors.Join(errs...)
}

func (c *Config) databaseConfigured() bool { return c.Database.URL != "" || c.Database.Host != "" }
func (c *Config) redisConfigured() bool    { return c.Redis.URL != "" || c.Redis.Host != "" }

// issuer is jwt.issuer or, by default, http://localhost:<port>.
func (c *Config) issuer() string {
	if c.JWT.Issuer != "" {
		return c.JWT.Issuer
	}
	return "http://localhost:" + c.Server.Port
}

// databaseURL is database.url or one built from the host settings.
func (c *Config) databaseURL() string {
	if c.Database.URL != "" {
		return c.Database.URL
	}
	u := url.URL{Scheme: "postgres", Host: c.Database.Host + ":" + c.Database.Port, Path: "/" + c.Database.Name}
	if c.Database.Password != "" {
		u.User = url.UserPassword(c.Database.User, c.Database.Password)
	} else {
		u.User = url.User(c.Database.User)
	}
	if c.Database.SSLMode != "" {
		u.RawQuery = "sslmode=" + url.QueryEscape(c.Database.SSLMode)
	}
	return u.String()
}

// redisURL is redis.url or one built from the host settings.
func (c *Config) redisURL() string {
	if c.Redis.URL != "" {
		return c.Redis.URL
	}
	u := url.URL{Scheme: "redis", Host: c.Redis.Host + ":" + c.Redis.Port, Path: "/" + strconv.Itoa(c.Redis.DB)}
	if c.Redis.Password != "" {
		u.User = url.UserPassword("", c.Redis.Password)
	}
	return u.String()
}

// client turns cc into a registry entry; defaultAudience fills an empty
// audience.
func (cc ClientConfig) client(defaultAudience []string) (*token.Client, error) {
	c := &token.Client{
		ID: cc.ID, Grants: cc.Grants, Audience: cc.Audience, DefaultScope: cc.DefaultScope,
		AccessTokenTTL: cc.AccessTokenTTL.D(), RefreshTokenTTL: cc.RefreshTokenTTL.D(), SigningAlg: cc.SigningAlg,
	}
	if len(c.Audience) == 0 {
		c.Audience = defaultAudience
	}
	if cc.SecretHash != "" {
		h, err := token.ParseSecretHash(cc.SecretHash)
		if err != nil {
			return nil, fmt.Errorf("client %q: secret_hash: %w", cc.ID, err)
		}
		c.SecretHash = h
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("client %q: %w", cc.ID, err)
	}
	return c, nil
}

// tokenLifetime is the longest lifetime of anything signed: a retired key
// stays published this long after it stops signing.
func (c *Config) tokenLifetime() time.Duration {
	longest := c.JWT.AccessTokenTTL.D()
	for _, cc := range c.Clients {
		longest = max(longest, cc.AccessTokenTTL.D())
	}
	return longest
}

// keySchedule is the rotation timing the configuration asks for.
func (c *Config) keySchedule() keystore.Schedule {
	poll := c.Keys.PollInterval.D()
	if poll == 0 {
		poll = min(time.Minute, c.Keys.JWKSMaxAge.D()/2)
	}
	return keystore.Schedule{
		RotationPeriod: c.Keys.RotationPeriod.D(), JWKSMaxAge: c.Keys.JWKSMaxAge.D(),
		PollInterval: poll, TokenLifetime: c.tokenLifetime(), Leeway: c.Keys.Leeway.D(),
	}
}
