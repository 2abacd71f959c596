// Package token issues and checks tokens. It owns the OAuth2 /token endpoint
// and its grants, the Connect services that authenticate (their RPCs run the
// same grants), JWT minting, discovery, userinfo and the bearer checks of
// authd's own protected RPCs.
//
// token composes identity, challenge, session and keystore; none of those
// imports token. Each grant asks, through a small interface declared next to
// it, for only what it uses.
package token
