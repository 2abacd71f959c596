-- Token signing keys. The state of a key (next, active, retired) follows from
-- its timestamps, so every instance derives the same state without writes.
CREATE TABLE signing_keys (
    kid             text PRIMARY KEY,       -- RFC 7638 thumbprint
    public_key      bytea NOT NULL,         -- PKIX DER
    private_key_enc bytea NOT NULL,         -- PKCS#8 DER sealed with AES-256-GCM under the KEK, AAD = kid
    created_at      timestamptz NOT NULL,
    activates_at    timestamptz NOT NULL,   -- signs from here
    retires_at      timestamptz,            -- stops signing here (NULL: until replaced)
    expires_at      timestamptz             -- unpublished and deleted after this
);

---- create above / drop below ----

DROP TABLE signing_keys;
