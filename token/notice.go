package token

import (
	"context"
	"log/slog"
	"time"

	"github.com/authd/authd/challenge"
	"github.com/authd/authd/identity"
)

// Notices tells users about changes to their account and, when enabled,
// about new sign-ins. A notice that cannot be queued is logged, not
// returned: the change it reports has already happened.
type Notices struct {
	sender  challenge.Sender
	log     *slog.Logger
	signins bool
	now     func() time.Time
}

// NewNotices returns the notifier; signins turns on new sign-in notices.
func NewNotices(sender challenge.Sender, log *slog.Logger, signins bool) *Notices {
	return &Notices{sender: sender, log: log, signins: signins, now: time.Now}
}

func (n *Notices) send(ctx context.Context, u identity.User, template string, vars map[string]string) {
	ch, to := channelOf(u, u.Email == "")
	if to == "" {
		return
	}
	if err := n.sender.Send(ctx, challenge.Message{Channel: ch, To: to, Template: template, Variables: vars}); err != nil {
		n.log.ErrorContext(ctx, "queue notice", "template", template, "user_id", u.ID, "err", err)
	}
}

// TOTPChanged tells u their second factor was turned on or off.
func (n *Notices) TOTPChanged(ctx context.Context, u identity.User, enabled bool) {
	t := challenge.TemplateTOTPDisabled
	if enabled {
		t = challenge.TemplateTOTPEnabled
	}
	n.send(ctx, u, t, nil)
}

// Signin reports a completed sign-in, when enabled.
func (n *Notices) Signin(ctx context.Context, u identity.User, meta RequestMeta) {
	if !n.signins {
		return
	}
	ua := meta.UserAgent
	if ua == "" {
		ua = "unknown"
	}
	n.send(ctx, u, challenge.TemplateNewSignin, map[string]string{
		"time": n.now().UTC().Format("2006-01-02 15:04 UTC"), "ip": meta.IP, "user_agent": ua,
	})
}
