package keystore

import "net/http"

// Header values shared by every response; the handler assigns these slices
// to the header map directly, so serving allocates nothing per request.
var (
	jsonContentType = []string{"application/json"}
	allowGetHead    = []string{"GET, HEAD"}
)

// JWKSHandler serves the published key set (/.well-known/jwks.json) with
// Cache-Control and a strong ETag, answering 304 Not Modified to a matching
// If-None-Match. The document and header values are built once per key-set
// change; the handler only writes them. Before Load it answers 503.
func (m *Manager) JWKSHandler() http.Handler {
	return http.HandlerFunc(m.serveJWKS)
}

func (m *Manager) serveJWKS(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header()["Allow"] = allowGetHead
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	s := m.current()
	if s == nil {
		http.Error(w, "signing keys not loaded", http.StatusServiceUnavailable)
		return
	}
	h := w.Header()
	// RFC 9110 §15.4.5: a 304 carries the Cache-Control and ETag a 200
	// would have.
	h["Cache-Control"] = m.cacheControl
	h["Etag"] = s.etag
	if noneMatch(r.Header["If-None-Match"], s.jwks.ETag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h["Content-Type"] = jsonContentType
	h["Content-Length"] = s.contentLength
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(s.jwks.Body)
	}
}

// noneMatch reports whether the If-None-Match field lines match etag (a
// strong, quoted tag) under RFC 9110 §13.1.2: "*" matches any current
// representation, and list members are compared weakly, so W/"x" matches
// "x". It scans in place instead of splitting on commas, which may occur
// inside a tag. A malformed member ends the scan of its line.
func noneMatch(lines []string, etag string) bool {
	for _, v := range lines {
		for {
			v = trimOWS(v)
			if v == "" {
				break
			}
			if v[0] == ',' {
				v = v[1:]
				continue
			}
			if v[0] == '*' {
				return true
			}
			tag, rest, ok := scanETag(v)
			if !ok {
				break
			}
			if tag == etag {
				return true
			}
			v = rest
		}
	}
	return false
}

// scanETag splits the entity-tag at the start of s off the rest, returning
// its quoted opaque part (without any W/ prefix, which weak comparison
// ignores).
func scanETag(s string) (tag, rest string, ok bool) {
	if len(s) >= 2 && s[0] == 'W' && s[1] == '/' {
		s = s[2:]
	}
	if len(s) < 2 || s[0] != '"' {
		return "", "", false
	}
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return s[:i+1], s[i+1:], true
		// etagc = %x21 / %x23-7E / obs-text
		case c == 0x21 || c >= 0x23 && c != 0x7f:
		default:
			return "", "", false
		}
	}
	return "", "", false
}

func trimOWS(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	return s
}
