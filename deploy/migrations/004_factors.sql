-- TOTP second factors and their recovery codes, owned by the challenge
-- package. user_id has no foreign key on purpose: challenge must not depend
-- on identity's tables.
--
-- A factor is pending (set up, not yet proven) while enabled_at is NULL.
-- last_step is the highest RFC 6238 time step ever accepted; a code is
-- accepted only for a greater step, so each code works once. It lives here,
-- not in Redis, so that losing Redis cannot reopen a replay.
CREATE TABLE totp_factors (
    user_id       uuid PRIMARY KEY,
    secret_sealed bytea NOT NULL,           -- AES-256-GCM, AAD = 'authd-totp:' || user_id
    enabled_at    timestamptz,
    last_step     bigint NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL
);

-- Single-use recovery codes, stored only as keyed hashes. They exist only
-- while the user's factor is enabled.
CREATE TABLE recovery_codes (
    user_id    uuid NOT NULL,
    code_hash  bytea NOT NULL,              -- HMAC-SHA-256 of the normalised code
    created_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, code_hash)
);

---- create above / drop below ----

DROP TABLE recovery_codes;
DROP TABLE totp_factors;
