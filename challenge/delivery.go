package challenge

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"time"
)

// Channel is how a message reaches its recipient.
type Channel string

const (
	ChannelEmail Channel = "email"
	ChannelSMS   Channel = "sms"
)

// Message is one notification to one recipient. Template and Variables say
// what it is, so a sender backed by a provider's own templates can use
// them; Subject and Body are the same message rendered by Render, for
// senders that send text (SMTP, SMS). An SMS sender ignores Subject.
type Message struct {
	ID        string            `json:"id"`
	Channel   Channel           `json:"channel"`
	To        string            `json:"to"`
	Template  string            `json:"template"`
	Subject   string            `json:"subject"`
	Body      string            `json:"body"`
	Variables map[string]string `json:"variables"`
	CreatedAt time.Time         `json:"created_at"`
}

// Sender delivers messages. Implementations: the development Outbox; the
// email service, SMTP and SMS webhook senders come later.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// Message templates; the delivery package renders them. Every template has
// the variable app_name; otp and expiry where it carries a code; link and
// link_expiry where it carries a link.
const (
	// TemplateSignupCode carries a signup verification code (SMS, or email
	// without a link).
	TemplateSignupCode = "signup_code"
	// TemplateSignupEmail is the signup email: a code and a verification
	// link.
	TemplateSignupEmail = "signup_email"
	// TemplateLoginCode carries a sign-in code.
	TemplateLoginCode = "login_code"
	// TemplateSignupNotice goes to an address that is already registered
	// when someone signs up with it again, so signup answers the same
	// whether or not the address exists.
	TemplateSignupNotice = "signup_notice"
	// TemplateEmailChangedNotice goes to the old address after an email
	// change.
	TemplateEmailChangedNotice = "email_changed_notice"
	// TemplateTOTPEnabled and TemplateTOTPDisabled tell the user their
	// second factor was turned on or off.
	TemplateTOTPEnabled  = "totp_enabled"
	TemplateTOTPDisabled = "totp_disabled"
	// TemplateNewSignin reports a sign-in; variables time, ip, user_agent.
	TemplateNewSignin = "new_signin"
)

const redacted = "[redacted]"

// publicVariables are the variables safe to log. Anything else, otp, link
// and token included, is redacted: a variable added by a later template
// stays out of production logs until someone decides it is safe.
var publicVariables = map[string]bool{"expiry": true}

// LogValue keeps codes and links out of logs wherever a Message is logged:
// the body and every variable not known to be public print as [redacted].
func (m Message) LogValue() slog.Value {
	return slog.GroupValue(m.logAttrs(false)...)
}

func (m Message) logAttrs(revealSecrets bool) []slog.Attr {
	vars := make([]slog.Attr, 0, len(m.Variables))
	for _, k := range slices.Sorted(maps.Keys(m.Variables)) {
		v := m.Variables[k]
		if !revealSecrets && !publicVariables[k] {
			v = redacted
		}
		vars = append(vars, slog.String(k, v))
	}
	body := m.Body
	if !revealSecrets {
		body = redacted
	}
	return []slog.Attr{
		slog.String("id", m.ID),
		slog.String("channel", string(m.Channel)),
		slog.String("to", m.To),
		slog.String("template", m.Template),
		slog.String("subject", m.Subject),
		slog.Attr{Key: "variables", Value: slog.GroupValue(vars...)},
		slog.String("body", body),
	}
}
