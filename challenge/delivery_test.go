package challenge_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/authd/authd/challenge"
)

func TestRender(t *testing.T) {
	for _, tt := range []struct {
		template    string
		vars        map[string]string
		subject     string
		bodyHas     []string
		bodyHasNone []string
	}{
		{
			template: challenge.TemplateSignupCode,
			vars:     map[string]string{"otp": "042917", "expiry": "5 minutes"},
			subject:  "Your verification code",
			bodyHas:  []string{"042917", "5 minutes"},
		},
		{
			template: challenge.TemplateLoginCode,
			vars:     map[string]string{"otp": "731002", "expiry": "10 minutes"},
			subject:  "Your sign-in code",
			bodyHas:  []string{"731002", "10 minutes"},
		},
		{
			template:    challenge.TemplateSignupNotice,
			subject:     "Someone tried to sign up with your address",
			bodyHas:     []string{"sign in", "reset your password"},
			bodyHasNone: []string{"<no value>"},
		},
	} {
		t.Run(tt.template, func(t *testing.T) {
			subject, body, err := challenge.Render(tt.template, tt.vars)
			if err != nil {
				t.Fatal(err)
			}
			if subject != tt.subject {
				t.Errorf("subject = %q, want %q", subject, tt.subject)
			}
			for _, s := range tt.bodyHas {
				if !strings.Contains(body, s) {
					t.Errorf("body %q does not contain %q", body, s)
				}
			}
			for _, s := range tt.bodyHasNone {
				if strings.Contains(body, s) {
					t.Errorf("body %q contains %q", body, s)
				}
			}
		})
	}
}

func TestRenderErrors(t *testing.T) {
	if _, _, err := challenge.Render("no_such_template", nil); err == nil {
		t.Error("unknown template: no error")
	}
	// A forgotten code must fail, not mail "<no value>".
	if _, _, err := challenge.Render(challenge.TemplateSignupCode, map[string]string{"expiry": "5 minutes"}); err == nil {
		t.Error("missing otp: no error")
	}
}

// A Message logged anywhere, not only by the outbox, keeps its secrets.
func TestMessageLogValueRedacts(t *testing.T) {
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("sending", "message", challenge.Message{
		Channel:   challenge.ChannelSMS,
		To:        "+15550100",
		Template:  challenge.TemplateLoginCode,
		Body:      "Your sign-in code is 731002.",
		Variables: map[string]string{"otp": "731002", "link": "https://x/verify?token=s3cret", "token": "s3cret", "expiry": "5 minutes", "future_secret": "f00"},
	})
	out := buf.String()
	for _, secret := range []string{"731002", "s3cret", "f00"} {
		if strings.Contains(out, secret) {
			t.Errorf("log %q contains %q", out, secret)
		}
	}
	for _, want := range []string{"message.to=+15550100", "message.variables.otp=[redacted]", `message.variables.expiry="5 minutes"`, "message.body=[redacted]"} {
		if !strings.Contains(out, want) {
			t.Errorf("log %q does not contain %q", out, want)
		}
	}
}
