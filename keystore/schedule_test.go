package keystore_test

import (
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/keystore"
)

// testSchedule is short enough to walk through several rotations: a key
// signs for an hour, its successor waits 12 minutes (1m poll + 10m max-age
// + 1m leeway) and a retired key stays published 16 (15m tokens + 1m).
var testSchedule = keystore.Schedule{
	RotationPeriod: time.Hour,
	JWKSMaxAge:     10 * time.Minute,
	PollInterval:   time.Minute,
	TokenLifetime:  15 * time.Minute,
	Leeway:         time.Minute,
}

func withSchedule(s keystore.Schedule) []keystore.Option {
	return []keystore.Option{
		keystore.WithRotationPeriod(s.RotationPeriod),
		keystore.WithJWKSMaxAge(s.JWKSMaxAge),
		keystore.WithPollInterval(s.PollInterval),
		keystore.WithTokenLifetime(s.TokenLifetime),
		keystore.WithLeeway(s.Leeway),
	}
}

func TestScheduleDefaults(t *testing.T) {
	for _, tc := range []struct {
		name            string
		opts            []keystore.Option
		want            keystore.Schedule
		delay, retiring time.Duration
	}{
		{
			name: "defaults",
			want: keystore.Schedule{
				RotationPeriod: 30 * 24 * time.Hour, JWKSMaxAge: 10 * time.Minute, PollInterval: time.Minute,
				TokenLifetime: 15 * time.Minute, Leeway: time.Minute,
			},
			delay: 12 * time.Minute, retiring: 16 * time.Minute,
		},
		{
			name: "poll follows a short max-age",
			opts: []keystore.Option{keystore.WithJWKSMaxAge(time.Minute)},
			want: keystore.Schedule{
				RotationPeriod: 30 * 24 * time.Hour, JWKSMaxAge: time.Minute, PollInterval: 30 * time.Second,
				TokenLifetime: 15 * time.Minute, Leeway: time.Minute,
			},
			delay: 2*time.Minute + 30*time.Second, retiring: 16 * time.Minute,
		},
		{
			name: "all set",
			opts: withSchedule(testSchedule),
			want: testSchedule, delay: 12 * time.Minute, retiring: 16 * time.Minute,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := keystore.NewManager(keystore.NewMemoryStore(), testKEK, tc.opts...)
			got := m.Schedule()
			if got != tc.want {
				t.Errorf("Schedule = %+v, want %+v", got, tc.want)
			}
			if d := got.ActivationDelay(); d != tc.delay {
				t.Errorf("ActivationDelay = %s, want %s", d, tc.delay)
			}
			if d := got.RetiredFor(); d != tc.retiring {
				t.Errorf("RetiredFor = %s, want %s", d, tc.retiring)
			}
			if err := got.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

func TestUnsafeScheduleRefused(t *testing.T) {
	with := func(f func(*keystore.Schedule)) keystore.Schedule {
		s := testSchedule
		f(&s)
		return s
	}
	for _, tc := range []struct {
		name  string
		sched keystore.Schedule
		want  string // in the error
	}{
		{"zero max-age", with(func(s *keystore.Schedule) { s.JWKSMaxAge = 0 }), "max-age 0s must be positive"},
		{"negative max-age", with(func(s *keystore.Schedule) { s.JWKSMaxAge = -time.Second }), "max-age -1s must be positive"},
		{"zero poll", with(func(s *keystore.Schedule) { s.PollInterval = 0 }), "poll interval 0s must be positive"},
		{"poll slower than max-age", with(func(s *keystore.Schedule) { s.PollInterval = 11 * time.Minute }), "exceeds the JWKS max-age"},
		{"zero leeway", with(func(s *keystore.Schedule) { s.Leeway = 0 }), "leeway 0s must be positive"},
		{"zero token lifetime", with(func(s *keystore.Schedule) { s.TokenLifetime = 0 }), "token lifetime 0s must be positive"},
		{"period shorter than the activation delay", with(func(s *keystore.Schedule) { s.RotationPeriod = 12 * time.Minute }), "twice the activation delay"},
		{"period just under twice the delay", with(func(s *keystore.Schedule) { s.RotationPeriod = 24*time.Minute - time.Nanosecond }), "twice the activation delay"},
		{"period shorter than tokens live", with(func(s *keystore.Schedule) { s.TokenLifetime = 2 * time.Hour }), "shorter than the token lifetime"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.sched.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want an error saying %q", err, tc.want)
			}
			m := newManager(t, keystore.NewMemoryStore(), testKEK, 0, append(withSchedule(tc.sched), noGenerate(t))...)
			if err := m.Load(t.Context()); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load = %v, want the same error", err)
			}
			for name, f := range map[string]func() error{
				"Maintain": func() error { return m.Maintain(t.Context()) },
				"Run":      func() error { return m.Run(t.Context()) },
				"Rotate":   func() error { _, _, err := m.Rotate(t.Context()); return err },
			} {
				if err := f(); err == nil {
					t.Errorf("%s succeeded", name)
				}
			}
		})
	}
	t.Run("period of exactly twice the delay", func(t *testing.T) {
		if err := with(func(s *keystore.Schedule) { s.RotationPeriod = 24 * time.Minute }).Validate(); err != nil {
			t.Fatalf("Validate: %v", err)
		}
	})
	t.Run("explicit zero poll is not defaulted", func(t *testing.T) {
		m := keystore.NewManager(keystore.NewMemoryStore(), testKEK, keystore.WithPollInterval(0))
		if err := m.Schedule().Validate(); err == nil {
			t.Fatal("WithPollInterval(0) was replaced by the default")
		}
	})
}
