-- Refresh-token sessions. A session is one token family: every token it ever
-- issued stays in refresh_tokens (hash only) until the session is deleted, so
-- the reuse of any rotated token is recognised.
-- user_id has no foreign key on purpose: the session package owns these
-- tables and must not depend on identity's.
CREATE TABLE sessions (
    id             uuid PRIMARY KEY,
    user_id        uuid NOT NULL,
    client_id      text NOT NULL,
    scope          text NOT NULL,
    amr            text[] NOT NULL,
    auth_time      timestamptz NOT NULL,
    generation     integer NOT NULL DEFAULT 0, -- generation of the live refresh token
    user_agent     text NOT NULL DEFAULT '',
    ip             text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL,
    last_used_at   timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    revoked_at     timestamptz,
    revoked_reason text
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

CREATE TABLE refresh_tokens (
    token_hash bytea PRIMARY KEY,           -- SHA-256 of the token
    session_id uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    generation integer NOT NULL,
    created_at timestamptz NOT NULL,
    rotated_at timestamptz                  -- set once a successor was issued
);
CREATE INDEX refresh_tokens_session_id_idx ON refresh_tokens (session_id);

---- create above / drop below ----

DROP TABLE refresh_tokens;
DROP TABLE sessions;
