-- API keys for `Authorization: Bearer <key>`. Roles are ordered viewer < uploader < admin.
--
-- Only a SHA-256 of each secret is kept. A slow password hash (bcrypt, argon2) exists to make
-- guessing low-entropy human passwords expensive; these secrets are 32 random bytes, so no
-- amount of guessing finds one, and a fast hash keeps the check on every request cheap.
-- `prefix` is the non-secret head of the key ("dwl_1a2b3c4d"): it finds the row and lets
-- people tell keys apart in listings without ever showing the secret again.
CREATE TABLE api_keys (
    id              bigserial   PRIMARY KEY,
    name            text,
    role            text        NOT NULL CHECK (role IN ('viewer', 'uploader', 'admin')),
    prefix          text        NOT NULL UNIQUE,
    key_hash        text        NOT NULL UNIQUE CHECK (key_hash ~ '^[0-9a-f]{64}$'),
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_used_at    timestamptz,
    revoked_at      timestamptz
);
