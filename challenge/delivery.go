package challenge

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"text/template"
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

// Built-in templates.
const (
	// TemplateSignupCode carries a signup verification code; variables
	// otp and expiry (a human duration such as "5 minutes").
	TemplateSignupCode = "signup_code"
	// TemplateSignupNotice goes to an address that is already registered
	// when someone signs up with it again, so signup answers the same
	// whether or not the address exists; no variables.
	TemplateSignupNotice = "signup_notice"
	// TemplateLoginCode carries a sign-in code; variables otp and expiry.
	TemplateLoginCode = "login_code"
	// TemplateSignupEmail is the signup email: a code and a verification
	// link; variables otp, expiry, link and link_expiry.
	TemplateSignupEmail = "signup_email"
)

type messageTemplate struct {
	subject, body *template.Template
}

// templates are parsed once at start-up; missingkey=error turns a variable
// the caller forgot into an error instead of "<no value>" in someone's inbox.
var templates = map[string]messageTemplate{
	TemplateSignupCode: mustTemplate(TemplateSignupCode,
		"Your verification code",
		"Your verification code is {{.otp}}.\n\n"+
			"It expires in {{.expiry}}. If you did not try to sign up, you can ignore this message.\n"),
	TemplateSignupEmail: mustTemplate(TemplateSignupEmail,
		"Verify your email address",
		"Your verification code is {{.otp}}. It expires in {{.expiry}}.\n\n"+
			"Or open this link to verify your address (valid for {{.link_expiry}}):\n{{.link}}\n\n"+
			"If you did not try to sign up, you can ignore this message.\n"),
	TemplateSignupNotice: mustTemplate(TemplateSignupNotice,
		"Someone tried to sign up with your address",
		"Someone tried to sign up with your address, which already has an account.\n\n"+
			"If it was you, sign in or reset your password. If it was not, you can ignore this message.\n"),
	TemplateLoginCode: mustTemplate(TemplateLoginCode,
		"Your sign-in code",
		"Your sign-in code is {{.otp}}.\n\n"+
			"It expires in {{.expiry}}. If you did not try to sign in, you can ignore this message; "+
			"never share this code with anyone.\n"),
}

func mustTemplate(name, subject, body string) messageTemplate {
	parse := func(part, text string) *template.Template {
		return template.Must(template.New(name + "." + part).Option("missingkey=error").Parse(text))
	}
	return messageTemplate{subject: parse("subject", subject), body: parse("body", body)}
}

// Render renders the built-in template name with vars.
func Render(name string, vars map[string]string) (subject, body string, err error) {
	t, ok := templates[name]
	if !ok {
		return "", "", fmt.Errorf("challenge: render: unknown template %q", name)
	}
	var s, b strings.Builder
	if err := t.subject.Execute(&s, vars); err != nil {
		return "", "", fmt.Errorf("challenge: render %s subject: %w", name, err)
	}
	if err := t.body.Execute(&b, vars); err != nil {
		return "", "", fmt.Errorf("challenge: render %s body: %w", name, err)
	}
	return s.String(), b.String(), nil
}

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
