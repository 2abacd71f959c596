package delivery_test

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authd/authd/challenge"
	"github.com/authd/authd/challenge/delivery"
)

// templateVars are the variables each template takes; every value is one
// the test can find in the output.
var templateVars = map[string]map[string]string{
	challenge.TemplateSignupCode:         {"app_name": "Acme", "otp": "314159", "expiry": "5 minutes"},
	challenge.TemplateSignupEmail:        {"app_name": "Acme", "otp": "314159", "expiry": "5 minutes", "link": "https://id.example.com/verify?token=tok_abc&x=1", "link_expiry": "24 hours"},
	challenge.TemplateLoginCode:          {"app_name": "Acme", "otp": "271828", "expiry": "5 minutes"},
	challenge.TemplateSignupNotice:       {"app_name": "Acme"},
	challenge.TemplateEmailChangedNotice: {"app_name": "Acme"},
	challenge.TemplateTOTPEnabled:        {"app_name": "Acme"},
	challenge.TemplateTOTPDisabled:       {"app_name": "Acme"},
	challenge.TemplateNewSignin:          {"app_name": "Acme", "time": "2030-01-02 03:04 UTC", "ip": "203.0.113.7", "user_agent": "Firefox <on> Linux"},
}

func newTemplates(t *testing.T, overrideDir string) *delivery.Templates {
	t.Helper()
	tpl, err := delivery.NewTemplates(overrideDir)
	if err != nil {
		t.Fatalf("NewTemplates(%q): %v", overrideDir, err)
	}
	return tpl
}

func TestTemplatesRenderEveryTemplate(t *testing.T) {
	tpl := newTemplates(t, "")
	for name, vars := range templateVars {
		t.Run(name, func(t *testing.T) {
			subject, text, html, err := tpl.Render(name, "en", vars)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if subject == "" || strings.Contains(subject, "\n") || !strings.Contains(subject, "Acme") {
				t.Errorf("subject = %q, want one line naming the app", subject)
			}
			for k, v := range vars {
				if k == "link" {
					// html/template escapes & inside href; the text keeps it.
					if !strings.Contains(text, v) || !strings.Contains(html, `href="https://id.example.com/verify?token=tok_abc&amp;x=1"`) {
						t.Errorf("link missing or misescaped:\ntext: %s\nhtml: %s", text, html)
					}
					continue
				}
				if !strings.Contains(text, v) {
					t.Errorf("text lacks %s=%q:\n%s", k, v, text)
				}
				if !strings.Contains(html, strings.NewReplacer("<", "&lt;", ">", "&gt;").Replace(v)) {
					t.Errorf("html lacks %s=%q (escaped):\n%s", k, v, html)
				}
			}
			for _, out := range []string{subject, text, html} {
				if strings.Contains(out, "<no value>") {
					t.Errorf("output has <no value>: %s", out)
				}
			}
		})
	}
}

func TestTemplatesMissingVariable(t *testing.T) {
	tpl := newTemplates(t, "")
	for name, vars := range templateVars {
		for k := range vars {
			partial := maps.Clone(vars)
			delete(partial, k)
			if _, _, _, err := tpl.Render(name, "en", partial); err == nil {
				t.Errorf("Render(%s) without %s succeeded", name, k)
			}
		}
	}
	if _, _, _, err := tpl.Render("no_such_template", "en", nil); err == nil {
		t.Error("Render(unknown template) succeeded")
	}
}

func TestTemplatesLocaleFallback(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"pt/login_code.subject.txt": "Seu código {{.app_name}}",
		"pt/login_code.txt":         "Código: {{.otp}}, válido por {{.expiry}}.",
		"pt/login_code.html":        "<p>Código: {{.otp}}</p>",
	})
	tpl := newTemplates(t, dir)
	vars := templateVars[challenge.TemplateLoginCode]
	for _, tc := range []struct{ locale, wantSubject string }{
		{"pt", "Seu código Acme"},
		{"pt-BR", "Seu código Acme"}, // region falls back to the language
		{"pt_br", "Seu código Acme"},
		{"de", "Your Acme sign-in code"}, // unknown locale: English
		{"", "Your Acme sign-in code"},
		{"../../etc", "Your Acme sign-in code"},
	} {
		subject, _, _, err := tpl.Render(challenge.TemplateLoginCode, tc.locale, vars)
		if err != nil || subject != tc.wantSubject {
			t.Errorf("Render(locale %q) subject = %q, %v; want %q", tc.locale, subject, err, tc.wantSubject)
		}
	}
	// A template pt does not translate stays English.
	subject, _, _, err := tpl.Render(challenge.TemplateSignupCode, "pt", templateVars[challenge.TemplateSignupCode])
	if err != nil || subject != "Your Acme verification code" {
		t.Errorf("untranslated template in pt: %q, %v", subject, err)
	}
}

func TestTemplatesOverrideOneFile(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"en/login_code.txt": "{{.app_name}} code {{.otp}} (custom)",
		".hidden":           "ignored, as Kubernetes' ..data is",
	})
	tpl := newTemplates(t, dir)
	subject, text, html, err := tpl.Render(challenge.TemplateLoginCode, "en", templateVars[challenge.TemplateLoginCode])
	if err != nil {
		t.Fatal(err)
	}
	if text != "Acme code 271828 (custom)" {
		t.Errorf("text = %q, want the override", text)
	}
	if subject != "Your Acme sign-in code" || !strings.Contains(html, "271828") || strings.Contains(html, "custom") {
		t.Errorf("the files not overridden changed: subject %q, html %q", subject, html)
	}
}

func TestTemplatesBrokenOverride(t *testing.T) {
	for name, files := range map[string]map[string]string{
		"syntax error":        {"en/login_code.html": "<p>{{.otp</p>"},
		"unknown template":    {"en/password_reset.txt": "hi"},
		"misnamed part":       {"en/login_code.body.txt": "hi"},
		"file at top level":   {"login_code.txt": "hi"},
		"invalid locale":      {"EN/login_code.txt": "hi"},
		"incomplete locale":   {"fr/login_code.subject.txt": "Votre code", "fr/login_code.txt": "{{.otp}}"},
		"nested directory":    {"en/extra/login_code.txt": "hi"},
		"text template error": {"fr/login_code.subject.txt": "{{if}}", "fr/login_code.txt": "x", "fr/login_code.html": "x"},
	} {
		dir := t.TempDir()
		writeFiles(t, dir, files)
		if _, err := delivery.NewTemplates(dir); err == nil {
			t.Errorf("%s: NewTemplates succeeded", name)
		}
	}
	if _, err := delivery.NewTemplates(filepath.Join(t.TempDir(), "absent")); err == nil {
		t.Error("NewTemplates(missing directory) succeeded")
	}
}

func TestTemplatesSubjectOneLine(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"en/signup_notice.subject.txt": "Hello {{.app_name}}\n"})
	tpl := newTemplates(t, dir)
	if _, _, _, err := tpl.Render(challenge.TemplateSignupNotice, "en", map[string]string{"app_name": "Acme\r\nBcc: x@evil.example"}); err == nil {
		t.Error("a subject with a line break rendered: header injection")
	}
	subject, _, _, err := tpl.Render(challenge.TemplateSignupNotice, "en", map[string]string{"app_name": "Acme"})
	if err != nil || subject != "Hello Acme" {
		t.Errorf("subject = %q, %v; want the trailing newline trimmed", subject, err)
	}
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
