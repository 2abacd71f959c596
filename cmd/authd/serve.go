package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/vanguard"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/rueidis"

	"github.com/authd/authd/challenge"
	"github.com/authd/authd/challenge/delivery"
	"github.com/authd/authd/deploy/migrations"
	"github.com/authd/authd/gen/authd/v1/authdv1connect"
	"github.com/authd/authd/identity"
	"github.com/authd/authd/keystore"
	"github.com/authd/authd/session"
	"github.com/authd/authd/telemetry"
	"github.com/authd/authd/token"
	"github.com/authd/authd/token/verifier"
)

// maxBodyBytes bounds every request body; authd's messages are small.
const maxBodyBytes = 1 << 20

// app is a wired server: its handler and what must be closed.
type app struct {
	handler http.Handler
	closers []func()
	// jobs run in the background for the server's lifetime.
	jobs []func(ctx context.Context)
}

func (a *app) Close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
}

func newLogger(cfg *Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(strings.Replace(strings.ToLower(cfg.App.LogLevel), "warning", "warn", 1)))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.App.Environment == envDevelopment {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// subkey derives an independent key for one use from app.secret, so one
// configured secret serves several purposes without reuse across them.
func subkey(secret, purpose string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("authd/" + purpose))
	return m.Sum(nil)
}

// newApp builds every store and service from cfg. ctx bounds start-up work
// (connecting, migrating, loading keys).
func newApp(ctx context.Context, cfg *Config, log *slog.Logger) (_ *app, err error) {
	a := &app{}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	dev := cfg.App.Environment == envDevelopment

	secret := cfg.App.Secret
	if secret == "" {
		secret = devSecret
		log.Warn("app.secret is not set: using the development default (refused outside development)")
	}

	var (
		userStore    identity.Store
		sessionStore session.Store
		keyStore     keystore.Store
		factorStore  challenge.FactorStore
		outboxStore  delivery.Store
		codeStore    challenge.Store
		limitStore   challenge.LimitStore
		ready        []func(context.Context) error
	)
	if cfg.databaseConfigured() {
		pool, err := openPostgres(ctx, cfg, log, dev)
		if err != nil {
			return nil, err
		}
		a.closers = append(a.closers, pool.Close)
		ready = append(ready, func(ctx context.Context) error { return pool.Ping(ctx) })
		userStore = identity.NewPostgresStore(pool)
		sessionStore = session.NewPostgresStore(pool)
		keyStore = keystore.NewPostgresStore(pool)
		factorStore = challenge.NewFactorPostgresStore(pool)
		outboxStore = delivery.NewPostgresStore(pool)
	} else {
		userStore = identity.NewMemoryStore()
		sessionStore = session.NewMemoryStore()
		keyStore = keystore.NewMemoryStore()
		factorStore = challenge.NewFactorMemoryStore()
		outboxStore = delivery.NewMemoryStore()
	}
	if cfg.redisConfigured() {
		opt, err := rueidis.ParseURL(cfg.redisURL())
		if err != nil {
			return nil, fmt.Errorf("redis.url: %w", err)
		}
		// Without a deadline rueidis retries read-only commands until Redis
		// comes back, so a request would hang instead of failing closed
		// with 503. Callers decide about retrying; the client fails fast.
		opt.DisableRetry = true
		opt.Dialer.Timeout = 2 * time.Second
		opt.ConnWriteTimeout = 2 * time.Second
		rc, err := rueidis.NewClient(opt)
		if err != nil {
			return nil, fmt.Errorf("connect to redis: %w", err)
		}
		a.closers = append(a.closers, rc.Close)
		ready = append(ready, func(ctx context.Context) error { return rc.Do(ctx, rc.B().Ping().Build()).Error() })
		codeStore = challenge.NewRedisStore(rc, cfg.Redis.Prefix)
		limitStore = challenge.NewLimitRedisStore(rc, cfg.Redis.Prefix)
	} else {
		codeStore = challenge.NewMemoryStore()
		limitStore = challenge.NewLimitMemoryStore()
	}

	keys, err := openKeys(ctx, cfg, keyStore, log)
	if err != nil {
		return nil, err
	}
	a.jobs = append(a.jobs, func(ctx context.Context) {
		if err := keys.Run(ctx); err != nil {
			log.Error("key rotation stopped", "err", err)
		}
	})
	ready = append(ready, func(context.Context) error {
		if !keys.Ready() {
			return errors.New("no active signing key")
		}
		return nil
	})

	hasher, err := identity.NewHasher(identity.DefaultHashParams(), 0)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := telemetry.NewHTTPMetrics(reg)

	// Messages go into the durable outbox; a worker on every instance
	// delivers them, so no request waits for a provider.
	outbox := challenge.NewOutbox(log, challenge.LogSecrets(dev))
	queue, err := delivery.NewQueue(outboxStore, subkey(secret, "outbox"),
		delivery.QueueLocale(cfg.Delivery.Locale), delivery.QueueAppName(cfg.App.Name))
	if err != nil {
		return nil, err
	}
	worker, err := newWorker(cfg, queue, outboxStore, outbox, reg, log)
	if err != nil {
		return nil, err
	}
	a.jobs = append(a.jobs, worker.Run)

	users := identity.NewService(userStore, hasher, identity.Policy{
		MinLength: cfg.App.PasswordMinLength, Blocklist: cfg.App.PasswordBlocklist,
	})
	if dev {
		if err := users.SeedDevelopment(ctx); err != nil {
			return nil, fmt.Errorf("seed development users: %w", err)
		}
	}
	sessions, err := session.NewManager(sessionStore, subkey(secret, "refresh-token"),
		session.WithLifetime(cfg.JWT.RefreshTokenTTL.D()),
		session.WithReuseGrace(cfg.JWT.RefreshTokenReuseInterval.D()),
		session.WithIdleTimeout(cfg.JWT.RefreshTokenIdleTimeout.D()),
		session.WithLogger(log))
	if err != nil {
		return nil, err
	}
	a.jobs = append(a.jobs, func(ctx context.Context) {
		if err := sessions.RunCleanup(ctx, cfg.Session.CleanupInterval.D(), cfg.Session.CleanupRetention.D()); err != nil {
			log.Error("session clean-up stopped", "err", err)
		}
	})
	codes, err := challenge.NewCodes(codeStore, subkey(secret, "otp"), challenge.CodeTTL(cfg.App.OTPTTL.D()))
	if err != nil {
		return nil, err
	}
	links, err := challenge.NewLinks(codeStore, challenge.LinkTTL(cfg.App.EmailLinkTTL.D()))
	if err != nil {
		return nil, err
	}
	factors, err := challenge.NewFactors(factorStore, subkey(secret, "totp"), cfg.App.Name)
	if err != nil {
		return nil, err
	}
	mfaTokens, err := challenge.NewMFATokens(codeStore, subkey(secret, "mfa"))
	if err != nil {
		return nil, err
	}
	limiter, err := challenge.NewLimiter(limitStore, challenge.DefaultLimitPolicy())
	if err != nil {
		return nil, err
	}
	sends, err := challenge.NewSendLimiter(limitStore, challenge.DefaultSendPolicy())
	if err != nil {
		return nil, err
	}
	guard := token.NewGuard(limiter)
	trusted, err := token.ParseTrustedProxies(cfg.Server.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("server.trusted_proxies: %w", err)
	}

	issuerURL := cfg.issuer()
	audience := []string{issuerURL}
	if cfg.JWT.Audience != "" {
		audience = []string{cfg.JWT.Audience}
	}
	var registered []*token.Client
	for _, cc := range cfg.Clients {
		c, err := cc.client(audience)
		if err != nil {
			return nil, err
		}
		registered = append(registered, c)
	}
	clients := token.NewClients(audience, registered...)
	minter := token.NewMinter(issuerURL, keys, nil, nil)
	issuer := token.NewIssuer(sessions, minter, cfg.JWT.AccessTokenTTL.D())
	notices := token.NewNotices(queue, log, cfg.App.NotifyNewSignin)
	stepUp := token.NewStepUp(issuer, factors, mfaTokens, notices)
	exchanger := token.NewExchanger(clients, log,
		token.NewPasswordGrant(users, stepUp, guard),
		token.NewRefreshGrant(sessions, issuer, users, guard),
		token.NewOTPGrant(users, codes, stepUp, guard),
		token.NewMFAGrant(mfaTokens, factors, users, issuer, guard, notices),
	)
	discovery, err := token.NewDiscovery(issuerURL, exchanger.GrantTypes())
	if err != nil {
		return nil, err
	}
	bearer := verifier.New(keys, issuerURL)

	connectOpts := []connect.HandlerOption{
		connect.WithCodec(token.StrictJSON{}),
		connect.WithReadMaxBytes(maxBodyBytes),
		connect.WithRecover(func(ctx context.Context, spec connect.Spec, _ http.Header, p any) error {
			log.ErrorContext(ctx, "panic in handler", "procedure", spec.Procedure, "panic", p)
			return connect.NewError(connect.CodeInternal, errors.New("internal error"))
		}),
	}
	withAuth := func(procedures ...string) []connect.HandlerOption {
		return append([]connect.HandlerOption{connect.WithInterceptors(bearer.Interceptor(procedures...))}, connectOpts...)
	}

	mux := http.NewServeMux()
	var services []*vanguard.Service
	mount := func(path string, h http.Handler) {
		mux.Handle(path, metrics.Wrap("connect", h))
		services = append(services, vanguard.NewService(path, h))
	}
	account := token.NewAccountService(token.AccountDeps{
		Users: users, Codes: codes, Links: links, Factors: factors, Sender: queue, Issuer: issuer,
		Clients: clients, Log: log, IssuerURL: issuerURL, Guard: guard, Sends: sends,
		RevealExisting: cfg.App.SignupRevealsExisting,
	})
	mount(authdv1connect.NewAccountServiceHandler(account, withAuth(authdv1connect.AccountServiceGetMeProcedure)...))
	mount(authdv1connect.NewTokenServiceHandler(token.NewTokenService(exchanger, clients, sessions, keys), connectOpts...))
	mount(authdv1connect.NewTwoFactorServiceHandler(token.NewTwoFactorService(factors, users, guard, notices), withAuth()...))
	mount(authdv1connect.NewSessionServiceHandler(token.NewSessionService(sessions), withAuth()...))
	var adminHash []byte
	if cfg.Admin.TokenHash != "" {
		if adminHash, err = token.ParseSecretHash(cfg.Admin.TokenHash); err != nil {
			return nil, fmt.Errorf("admin.token_hash: %w", err)
		}
	}
	mount(authdv1connect.NewAdminServiceHandler(token.NewAdminService(keys),
		append([]connect.HandlerOption{connect.WithInterceptors(token.AdminAuth(adminHash))}, connectOpts...)...))

	rest, err := vanguard.NewTranscoder(services,
		vanguard.WithCodec(token.RESTCodec),
		vanguard.WithDefaultServiceOptions(
			vanguard.WithTargetProtocols(vanguard.ProtocolConnect),
			vanguard.WithTargetCodecs(vanguard.CodecProto),
			vanguard.WithMaxMessageBufferBytes(maxBodyBytes),
		),
	)
	if err != nil {
		return nil, fmt.Errorf("build REST transcoder: %w", err)
	}
	mux.Handle("/api/", metrics.Wrap("rest", rest))
	mux.Handle("GET /api/v1/auth/public-key", metrics.Wrap("rest", token.PublicKeyPEM(keys, rest)))
	mux.Handle("/api/v1/auth/verify-email", metrics.Wrap("rest", account.VerifyEmailPage(cfg.App.EmailLinkGetVerifies, rest)))
	endpoint := token.NewEndpoint(exchanger, clients, log)
	revocation := token.NewRevocation(endpoint, sessions, bearer)
	mux.Handle("/token", metrics.Wrap("token", endpoint))
	mux.Handle("/revoke", metrics.Wrap("revoke", http.HandlerFunc(revocation.Revoke)))
	mux.Handle("/introspect", metrics.Wrap("introspect", http.HandlerFunc(revocation.Introspect)))
	mux.Handle("/userinfo", metrics.Wrap("userinfo", bearer.Middleware(token.NewUserInfo(users))))
	mux.Handle("/.well-known/openid-configuration", metrics.Wrap("discovery", discovery))
	mux.Handle("/.well-known/oauth-authorization-server", metrics.Wrap("discovery", discovery))
	mux.Handle("/.well-known/jwks.json", metrics.Wrap("jwks", keys.JWKSHandler()))
	mux.Handle("GET /health", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ok"}`+"\n")
	}))
	mux.Handle("GET /ready", readiness(ready))
	mux.Handle("GET /metrics", telemetry.MetricsHandler(reg))
	if dev {
		mux.Handle("GET /debug/outbox", outbox)
	}
	a.handler = telemetry.Recover(log, limitBody(token.ClientIP(trusted, mux)))
	return a, nil
}

// newWorker builds the outbox worker with the configured providers.
func newWorker(cfg *Config, queue *delivery.Queue, store delivery.Store, outbox *challenge.Outbox, reg prometheus.Registerer, log *slog.Logger) (*delivery.Worker, error) {
	templates, err := delivery.NewTemplates(cfg.Delivery.TemplatesDir)
	if err != nil {
		return nil, fmt.Errorf("delivery.templates_dir: %w", err)
	}
	dev := delivery.OutboxProvider{Outbox: outbox}
	providers := map[challenge.Channel]delivery.Provider{challenge.ChannelEmail: dev, challenge.ChannelSMS: dev}
	switch cfg.Email.Provider {
	case "http":
		p, err := delivery.NewHTTPEmail(delivery.HTTPEmailConfig{
			ServiceURL: cfg.Email.ServiceURL, Timeout: cfg.Email.Timeout.D(), RetryCount: cfg.Email.RetryCount,
			BearerToken: cfg.Email.BearerToken, APIKey: cfg.Email.APIKey,
		})
		if err != nil {
			return nil, fmt.Errorf("email: %w", err)
		}
		providers[challenge.ChannelEmail] = p
	case "smtp":
		sc := cfg.Email.SMTP
		p, err := delivery.NewSMTP(delivery.SMTPConfig{
			Host: sc.Host, Port: sc.Port, Username: sc.Username, Password: sc.Password,
			From: sc.From, ReplyTo: sc.ReplyTo, TLS: sc.TLS, Timeout: cfg.Email.Timeout.D(),
		})
		if err != nil {
			return nil, fmt.Errorf("email.smtp: %w", err)
		}
		providers[challenge.ChannelEmail] = p
	}
	if cfg.SMS.Provider == "webhook" {
		p, err := delivery.NewSMSWebhook(delivery.SMSWebhookConfig{URL: cfg.SMS.WebhookURL, Secret: []byte(cfg.SMS.WebhookSecret)})
		if err != nil {
			return nil, fmt.Errorf("sms: %w", err)
		}
		providers[challenge.ChannelSMS] = p
	}
	m, err := delivery.RegisterMetrics(reg, store)
	if err != nil {
		return nil, err
	}
	return delivery.NewWorker(queue, templates, providers,
		delivery.WorkerMaxAttempts(cfg.Delivery.MaxAttempts),
		delivery.WorkerBackoff(cfg.Delivery.RetryBase.D(), cfg.Delivery.RetryMax.D()),
		delivery.WorkerLease(cfg.Delivery.Lease.D()),
		delivery.WorkerTimeout(cfg.Email.Timeout.D()),
		delivery.WorkerLogger(log), delivery.WorkerMetrics(m))
}

// openKeys loads the signing keys: from the PEM directory keys.dir when set
// (read-only), otherwise from store, sealed under keys.encryption_key.
func openKeys(ctx context.Context, cfg *Config, store keystore.Store, log *slog.Logger) (*keystore.Manager, error) {
	var kek keystore.KEK
	if cfg.Keys.Dir != "" {
		// The PEM store seals under its own per-process key.
		store = keystore.NewPEMStore(cfg.Keys.Dir)
	} else {
		text := cfg.Keys.EncryptionKey
		if text == "" {
			text = devKEK
			log.Warn("keys.encryption_key is not set: using the development default (refused outside development)")
		}
		var err error
		if kek, err = keystore.ParseKEK(text); err != nil {
			return nil, fmt.Errorf("keys.encryption_key: %w", err)
		}
	}
	sched := cfg.keySchedule()
	keys := keystore.NewManager(store, kek,
		keystore.WithKeySize(cfg.Keys.Size), keystore.WithLogger(log),
		keystore.WithRotationPeriod(sched.RotationPeriod), keystore.WithJWKSMaxAge(sched.JWKSMaxAge),
		keystore.WithPollInterval(sched.PollInterval), keystore.WithTokenLifetime(sched.TokenLifetime),
		keystore.WithLeeway(sched.Leeway))
	if err := keys.Load(ctx); err != nil {
		return nil, fmt.Errorf("load signing keys: %w", err)
	}
	log.Info("signing keys", "rotation_period", sched.RotationPeriod, "activation_delay", sched.ActivationDelay(),
		"retired_for", sched.RetiredFor(), "jwks_max_age", sched.JWKSMaxAge, "poll_interval", sched.PollInterval)
	return keys, nil
}

func openPostgres(ctx context.Context, cfg *Config, log *slog.Logger, dev bool) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(cfg.databaseURL())
	if err != nil {
		return nil, fmt.Errorf("database.url: %w", err)
	}
	pc.MaxConns = int32(cfg.Database.MaxConns)
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	version, err := prepareSchema(ctx, pool, dev)
	if err != nil {
		pool.Close()
		return nil, err
	}
	log.Info("storage: PostgreSQL", "schema_version", version)
	return pool, nil
}

// prepareSchema applies pending migrations in development and otherwise
// refuses a schema older than this binary's.
func prepareSchema(ctx context.Context, pool *pgxpool.Pool, dev bool) (int32, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("connect to database: %w", err)
	}
	defer conn.Release()
	if dev {
		if err := migrations.Up(ctx, conn.Conn()); err != nil {
			return 0, err
		}
	}
	st, err := migrations.Check(ctx, conn.Conn())
	if err != nil {
		return 0, err
	}
	if st.Behind() {
		return 0, fmt.Errorf("database schema is at version %d, this authd needs %d: run `authd migrate up`", st.Current, st.Latest)
	}
	return st.Current, nil
}

// readiness answers 200 when every check passes, 503 naming the first that
// fails otherwise.
func readiness(checks []func(context.Context) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "application/json")
		for _, check := range checks {
			if err := check(ctx); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = io.WriteString(w, `{"status":"unavailable"}`+"\n")
				return
			}
		}
		_, _ = io.WriteString(w, `{"status":"ready"}`+"\n")
	})
}

// limitBody refuses declared oversize bodies at once with 413 and caps
// undeclared ones, so no handler reads without bound.
func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > maxBodyBytes {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			_, _ = io.WriteString(w, `{"error":"invalid_request","error_description":"request body too large","reason":"BODY_TOO_LARGE"}`+"\n")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

// serve runs the server until ctx ends, then shuts down gracefully. ln may
// be nil to listen on server.host:server.port.
func serve(ctx context.Context, cfg *Config, log *slog.Logger, ln net.Listener) error {
	storage := "PostgreSQL and Redis"
	switch {
	case !cfg.databaseConfigured() && !cfg.redisConfigured():
		storage = "memory"
		log.Warn("storage: in memory (no database or redis configured): every account, session and key is lost on exit")
	case !cfg.databaseConfigured():
		storage = "memory for users, sessions and keys; Redis for codes"
		log.Warn("storage: no database configured: users, sessions and keys are kept in memory and lost on exit")
	case !cfg.redisConfigured():
		storage = "PostgreSQL; memory for codes"
		log.Warn("storage: no redis configured: one-time codes are kept in memory, not shared between instances")
	}
	startCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	a, err := newApp(startCtx, cfg, log)
	cancel()
	if err != nil {
		return err
	}
	defer a.Close()

	if ln == nil {
		ln, err = net.Listen("tcp", net.JoinHostPort(cfg.Server.Host, cfg.Server.Port))
		if err != nil {
			return fmt.Errorf("listen: %w", err)
		}
	}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true) // gRPC without TLS
	srv := &http.Server{
		Handler:           a.handler,
		Protocols:         &protocols,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	jobCtx, stopJobs := context.WithCancel(ctx)
	var jobs sync.WaitGroup
	for _, job := range a.jobs {
		jobs.Go(func() { job(jobCtx) })
	}
	defer func() { stopJobs(); jobs.Wait() }()

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("authd listening", "addr", ln.Addr().String(), "issuer", cfg.issuer(),
		"environment", cfg.App.Environment, "storage", storage, "version", version)

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, scancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout.D())
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
