-- sshgate schema, version 2: login sessions, API tokens, recovery codes, password throttle.
--
-- Portable like 0001 (SQLite and PostgreSQL): TEXT, INTEGER, DOUBLE PRECISION for Unix times.
-- No secret is stored in a form that opens a door: session and API token secrets as the
-- SHA-256 hex of the bearer string, recovery codes as HMAC-SHA256 hex keyed by the secrets
-- key (secrets.key_file), TOTP secrets AES-GCM encrypted in users.mfa_secret_enc (0001).

-- One row per login. amr is fixed at login (JSON list); the bearer's effective amr still
-- drops "mfa" when users.mfa_revoked_at is after auth_time.
CREATE TABLE login_sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    token_hash TEXT NOT NULL UNIQUE,
    amr TEXT NOT NULL,
    auth_time DOUBLE PRECISION NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL,
    revoked_at DOUBLE PRECISION,
    client TEXT
);

CREATE INDEX login_sessions_user_id ON login_sessions (user_id);

-- Bots' bearer tokens; they carry the amr and auth_time of the login that created them.
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    amr TEXT NOT NULL,
    auth_time DOUBLE PRECISION NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    revoked_at DOUBLE PRECISION,
    last_used_at DOUBLE PRECISION
);

CREATE INDEX api_tokens_user_id ON api_tokens (user_id);

CREATE TABLE recovery_codes (
    user_id TEXT NOT NULL REFERENCES users (id),
    code_hash TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    used_at DOUBLE PRECISION,
    PRIMARY KEY (user_id, code_hash)
);

-- Consecutive failed passwords per username ('user') and per client address ('addr').
-- Rows are forgotten some time after their last failure (see accounts/throttle.py).
CREATE TABLE login_throttle (
    scope TEXT NOT NULL CHECK (scope IN ('user', 'addr')),
    subject TEXT NOT NULL,
    failures INTEGER NOT NULL,
    last_failure_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (scope, subject)
);

CREATE INDEX login_throttle_last_failure_at ON login_throttle (last_failure_at);
