-- sshgate schema, version 7: phishing-resistant MFA. The org level, security keys and
-- passkeys (WebAuthn), their one-time challenges, and the one-time grants of the CLI's
-- browser sign-in (OAuth 2.0 authorization code with PKCE, and device authorization).
--
-- Portable like 0001 (SQLite and PostgreSQL). Every one-time value (challenge, authorization
-- code, device code) is taken with DELETE/UPDATE ... RETURNING, so exactly one caller wins;
-- codes are stored as SHA-256 hex, never as the value that opens the door.

-- Which logins count when the org requires MFA: 'any' second factor, or only a security key
-- or passkey ('phishing-resistant', `hwk` in the login's amr).
ALTER TABLE orgs ADD COLUMN mfa_level TEXT NOT NULL DEFAULT 'any'
    CHECK (mfa_level IN ('any', 'phishing-resistant'));

-- Whether the certificate behind an open session proved a key, so that switching an org to
-- 'phishing-resistant' can say how many sessions will close.
ALTER TABLE live_sessions ADD COLUMN has_key INTEGER NOT NULL DEFAULT 0
    CHECK (has_key IN (0, 1));

-- A user's security keys and passkeys. credential_id and public_key are base64url (the
-- public key in COSE form, as the authenticator gave it); sign_count is the last signature
-- counter seen (a counter that goes backwards is refused: a cloned authenticator).
CREATE TABLE security_keys (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    credential_id TEXT NOT NULL UNIQUE,
    public_key TEXT NOT NULL,
    sign_count BIGINT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    last_used_at DOUBLE PRECISION
);

CREATE INDEX security_keys_user_id ON security_keys (user_id);

-- A WebAuthn ceremony in flight: the challenge the server made, for whom and what, bound to
-- the sign-in or login session that started it (bound_to), short-lived and used once.
CREATE TABLE webauthn_challenges (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    purpose TEXT NOT NULL CHECK (purpose IN ('register', 'authenticate')),
    challenge TEXT NOT NULL,
    bound_to TEXT NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
);

CREATE INDEX webauthn_challenges_expires_at ON webauthn_challenges (expires_at);

-- An authorization code for `sshgate login --web` (RFC 6749 + RFC 7636 + RFC 8252): the
-- user allowed it from a login session whose amr and auth_time the CLI's session gets.
CREATE TABLE oauth_codes (
    code_hash TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id),
    redirect_uri TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    amr TEXT NOT NULL,
    auth_time DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
);

-- A device authorization for `sshgate login --device` (RFC 8628): pending until the user
-- approves or denies it in a browser, then taken once by the polling CLI.
CREATE TABLE device_codes (
    device_code_hash TEXT PRIMARY KEY,
    user_code TEXT NOT NULL UNIQUE,
    client_id TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'denied')),
    user_id TEXT REFERENCES users (id),
    amr TEXT,
    auth_time DOUBLE PRECISION,
    expires_at DOUBLE PRECISION NOT NULL,
    last_poll_at DOUBLE PRECISION
);
