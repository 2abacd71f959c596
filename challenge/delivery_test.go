package challenge_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/authd/authd/challenge"
)

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
