package identity_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/authd/authd/identity"
)

func TestNormalizeEmail(t *testing.T) {
	long := strings.Repeat("a", 64) + "@" + strings.Repeat("b", 185) + ".com" // 254 bytes
	tests := []struct {
		in, want string // want "" means ErrInvalidEmail
	}{
		{"alice@example.com", "alice@example.com"},
		{"Alice.Smith@Example.COM", "alice.smith@example.com"},
		{"  bob+tag@example.com\t\n", "bob+tag@example.com"},
		{"bob@localhost", "bob@localhost"},
		{"Ünïcode@Exämple.com", "ünïcode@exämple.com"},
		{long, long},
		{"a" + long, ""},
		{"", ""},
		{"   ", ""},
		{"bob", ""},
		{"bob@", ""},
		{"@example.com", ""},
		{"bob@@example.com", ""},
		{"bob@example.com.", ""},
		{"bob smith@example.com", ""},
		{"Bob <bob@example.com>", ""},
		{"<bob@example.com>", ""},
		{`"Bob" <bob@example.com>`, ""},
		{"bob@example.com (Bob)", ""},
		{`"bob smith"@example.com`, ""},
		{`"bob"@example.com`, ""},
		{"bob@example.com, eve@example.com", ""},
		{"bob@example.com\r\nBcc: eve@example.com", ""},
		{"bob\x00@example.com", ""},
	}
	for _, tt := range tests {
		got, err := identity.NormalizeEmail(tt.in)
		if tt.want == "" {
			if !errors.Is(err, identity.ErrInvalidEmail) || got != "" {
				t.Errorf("NormalizeEmail(%q) = %q, %v; want ErrInvalidEmail", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestNormalizePhone(t *testing.T) {
	tests := []struct {
		in, want string // want "" means ErrInvalidPhone
	}{
		{"+14155552671", "+14155552671"},
		{"+1 (415) 555-2671", "+14155552671"},
		{"  +44 20 7946 0958 ", "+442079460958"},
		{"+44.20.7946.0958", "+442079460958"},
		{"0044 20 7946 0958", "+442079460958"},
		{"00-44-(20)-7946-0958", "+442079460958"},
		{"+12345678", "+12345678"},               // 8 digits
		{"+123456789012345", "+123456789012345"}, // 15 digits
		{"+1234567", ""},                         // 7 digits
		{"+1234567890123456", ""},                // 16 digits
		{"14155552671", ""},                      // no country code marker
		{"04155552671", ""},
		{"+04155552671", ""},
		{"0004155552671", ""},
		{"", ""},
		{"+", ""},
		{"00", ""},
		{"++14155552671", ""},
		{"+1 415 555 2671 ext 3", ""},
		{"+1/415/555/2671", ""},
		{"+1\t4155552671", ""},
		{"+１４１５５５５２６７１", ""}, // fullwidth digits
		{"+١٤١٥٥٥٥٢٦٧١", ""}, // Arabic-Indic digits
	}
	for _, tt := range tests {
		got, err := identity.NormalizePhone(tt.in)
		if tt.want == "" {
			if !errors.Is(err, identity.ErrInvalidPhone) || got != "" {
				t.Errorf("NormalizePhone(%q) = %q, %v; want ErrInvalidPhone", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizePhone(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}
