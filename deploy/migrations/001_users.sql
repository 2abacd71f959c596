-- Accounts. An address is proven when its *_verified_at is set.
CREATE TABLE users (
    id                uuid PRIMARY KEY,
    email             text UNIQUE,          -- normalised (lower-case), NULL for phone-only accounts
    phone             text UNIQUE,          -- E.164, NULL for email-only accounts
    email_verified_at timestamptz,
    phone_verified_at timestamptz,
    password_hash     text,                 -- PHC string; NULL for passwordless accounts
    name              text NOT NULL DEFAULT '',
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    CHECK (email IS NOT NULL OR phone IS NOT NULL)
);

---- create above / drop below ----

DROP TABLE users;
