package delivery

import (
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strings"
	texttemplate "text/template"

	"github.com/authd/authd/challenge"
)

// templateNames are the templates a Queue accepts. Every one exists in
// English; an override directory may replace them or translate them, never
// add others, so a name a Queue accepted always renders.
var templateNames = []string{
	challenge.TemplateSignupCode,
	challenge.TemplateSignupEmail,
	challenge.TemplateLoginCode,
	challenge.TemplateSignupNotice,
	challenge.TemplateEmailChangedNotice,
	challenge.TemplateTOTPEnabled,
	challenge.TemplateTOTPDisabled,
	challenge.TemplateNewSignin,
}

// DefaultLocale is the locale every template exists in, the last fallback.
const DefaultLocale = "en"

//go:embed templates
var embeddedTemplates embed.FS

// The three files of a template, as suffixes of <locale>/<name>.
const (
	partSubject = ".subject.txt"
	partText    = ".txt"
	partHTML    = ".html"
)

var templateParts = []string{partSubject, partText, partHTML}

// compiledTemplate is one template in one locale.
type compiledTemplate struct {
	subject, text *texttemplate.Template
	html          *htmltemplate.Template
}

// Templates renders messages from files laid out as
// <locale>/<name>.subject.txt, <name>.txt and <name>.html: the subject and
// the text body with text/template, the HTML body with html/template, which
// escapes variables for their context (a link lands in href safely). The
// .txt is also the SMS body. A variable a template uses but the message
// lacks is an error, never "<no value>" in someone's inbox.
type Templates struct {
	locales map[string]map[string]compiledTemplate // locale -> name -> template
}

// NewTemplates parses the templates embedded in the binary, with each file
// found in overrideDir (same layout; "" for none) replacing its embedded
// counterpart. A new locale in overrideDir must give all three files of
// each template it translates, so a message is never half translated; any
// template it does not translate falls back to English. Everything is
// parsed here, so a broken override stops start-up instead of abandoning
// messages later. Names starting with "." are skipped (Kubernetes volume
// bookkeeping such as ..data).
func NewTemplates(overrideDir string) (*Templates, error) {
	sub, err := fs.Sub(embeddedTemplates, "templates")
	if err != nil {
		return nil, fmt.Errorf("delivery: templates: %w", err)
	}
	sources := make(map[string]string)
	if err := readTemplateTree(sub, sources); err != nil {
		return nil, fmt.Errorf("delivery: embedded templates: %w", err)
	}
	if overrideDir != "" {
		if err := readTemplateTree(os.DirFS(overrideDir), sources); err != nil {
			return nil, fmt.Errorf("delivery: templates in %s: %w", overrideDir, err)
		}
	}
	t, err := compileTemplates(sources)
	if err != nil {
		return nil, fmt.Errorf("delivery: templates: %w", err)
	}
	return t, nil
}

// readTemplateTree reads <locale>/<name><part> files of fsys into sources,
// keyed by path, and refuses anything else so a misnamed override fails
// loudly rather than being ignored. It stats rather than trusting directory
// entries so symlinked locale directories (a mounted volume) are followed.
func readTemplateTree(fsys fs.FS, sources map[string]string) error {
	locales, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return err
	}
	for _, l := range locales {
		locale := l.Name()
		if strings.HasPrefix(locale, ".") {
			continue
		}
		if info, err := fs.Stat(fsys, locale); err != nil || !info.IsDir() {
			return fmt.Errorf("%s: want a locale directory (such as %s/)", locale, DefaultLocale)
		}
		if !validLocale(locale) {
			return fmt.Errorf("%s: not a lower-case locale such as en or pt-br", locale)
		}
		files, err := fs.ReadDir(fsys, locale)
		if err != nil {
			return err
		}
		for _, f := range files {
			if strings.HasPrefix(f.Name(), ".") {
				continue
			}
			p := locale + "/" + f.Name()
			name, part := splitTemplateFile(f.Name())
			if part == "" || !slices.Contains(templateNames, name) {
				return fmt.Errorf("%s: want <template>.subject.txt, .txt or .html with a template among %s",
					p, strings.Join(templateNames, ", "))
			}
			b, err := fs.ReadFile(fsys, p)
			if err != nil {
				return err
			}
			sources[p] = string(b)
		}
	}
	return nil
}

// splitTemplateFile splits "login_code.subject.txt" into "login_code" and
// ".subject.txt"; part is "" for a file that is no template part.
func splitTemplateFile(file string) (name, part string) {
	for _, p := range templateParts { // .subject.txt before .txt
		if n, ok := strings.CutSuffix(file, p); ok && n != "" {
			return n, p
		}
	}
	return "", ""
}

func compileTemplates(sources map[string]string) (*Templates, error) {
	t := &Templates{locales: make(map[string]map[string]compiledTemplate)}
	for _, p := range slices.Sorted(maps.Keys(sources)) {
		locale, file, _ := strings.Cut(p, "/")
		name, _ := splitTemplateFile(file)
		if _, done := t.locales[locale][name]; done {
			continue
		}
		var missing []string
		for _, part := range templateParts {
			if _, ok := sources[locale+"/"+name+part]; !ok {
				missing = append(missing, locale+"/"+name+part)
			}
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("%s is incomplete: missing %s", locale+"/"+name, strings.Join(missing, ", "))
		}
		c, err := compileTemplate(locale+"/"+name, sources)
		if err != nil {
			return nil, err
		}
		if t.locales[locale] == nil {
			t.locales[locale] = make(map[string]compiledTemplate)
		}
		t.locales[locale][name] = c
	}
	for _, name := range templateNames {
		if _, ok := t.locales[DefaultLocale][name]; !ok {
			return nil, fmt.Errorf("template %s has no %s version", name, DefaultLocale)
		}
	}
	return t, nil
}

// compileTemplate parses the three parts of the template at base ("en/login_code").
func compileTemplate(base string, sources map[string]string) (compiledTemplate, error) {
	var (
		c    compiledTemplate
		errs []error
	)
	parseText := func(part string) *texttemplate.Template {
		t, err := texttemplate.New(base + part).Option("missingkey=error").Parse(sources[base+part])
		errs = append(errs, err)
		return t
	}
	c.subject, c.text = parseText(partSubject), parseText(partText)
	html, err := htmltemplate.New(base + partHTML).Option("missingkey=error").Parse(sources[base+partHTML])
	c.html = html
	if err := errors.Join(append(errs, err)...); err != nil {
		return compiledTemplate{}, err
	}
	return c, nil
}

// Render renders template name in locale, or in the nearest locale it
// exists in: "pt-BR" falls back to "pt", then to English. The subject is
// trimmed and must be one line, so no variable can smuggle in a mail
// header.
func (t *Templates) Render(name, locale string, vars map[string]string) (subject, text, html string, err error) {
	c, ok := t.lookup(name, locale)
	if !ok {
		return "", "", "", fmt.Errorf("delivery: render: unknown template %q", name)
	}
	var s, b, h strings.Builder
	if err := c.subject.Execute(&s, vars); err != nil {
		return "", "", "", fmt.Errorf("delivery: render %s subject: %w", name, err)
	}
	if err := c.text.Execute(&b, vars); err != nil {
		return "", "", "", fmt.Errorf("delivery: render %s text: %w", name, err)
	}
	if err := c.html.Execute(&h, vars); err != nil {
		return "", "", "", fmt.Errorf("delivery: render %s html: %w", name, err)
	}
	subject = strings.TrimSpace(s.String())
	if strings.ContainsAny(subject, "\r\n") {
		return "", "", "", fmt.Errorf("delivery: render %s: subject spans several lines", name)
	}
	return subject, b.String(), h.String(), nil
}

func (t *Templates) lookup(name, locale string) (compiledTemplate, bool) {
	locale = normalizeLocale(locale)
	for {
		if c, ok := t.locales[locale][name]; ok {
			return c, true
		}
		i := strings.LastIndexByte(locale, '-')
		if i < 0 {
			break
		}
		locale = locale[:i]
	}
	c, ok := t.locales[DefaultLocale][name]
	return c, ok
}

// normalizeLocale turns a BCP 47 tag or a POSIX-style name ("pt_BR") into
// the lower-case directory name templates use ("pt-br").
func normalizeLocale(locale string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimSpace(locale), "_", "-"))
}

// validLocale accepts normalised locales: a 2 or 3 letter language, then
// subtags of letters and digits ("en", "pt-br", "zh-hant-tw").
func validLocale(locale string) bool {
	if locale != normalizeLocale(locale) {
		return false
	}
	for i, sub := range strings.Split(locale, "-") {
		if n := len(sub); n == 0 || n > 8 || (i == 0 && (n < 2 || n > 3)) {
			return false
		}
		for _, r := range sub {
			if (r < 'a' || r > 'z') && (i == 0 || r < '0' || r > '9') {
				return false
			}
		}
	}
	return true
}
