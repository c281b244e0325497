-- sshgate schema, version 12: an authenticator app being set up is kept apart from the one
-- that was verified, so that a pending secret never counts as a second factor (for "MFA on",
-- for a login's amr, for "is this the last second factor" when a key is removed, and in the
-- members' factors), and so that a user whose MFA is on through security keys can add an app.
--
-- Portable like 0001 (SQLite and PostgreSQL). users.mfa_secret_enc (0001) now holds only a
-- verified secret; a setup lives here, AES-GCM encrypted like it, until a correct code moves
-- it there in one write transaction, a new setup replaces it, or it expires.

CREATE TABLE totp_setups (
    user_id TEXT PRIMARY KEY REFERENCES users (id),
    secret_enc BYTEA NOT NULL,
    started_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
);

CREATE INDEX totp_setups_expires_at ON totp_setups (expires_at);

-- A secret of a user without MFA was a setup never verified: it is dropped (the user starts
-- "Set up application" again) rather than carried over without knowing when it began.
UPDATE users SET mfa_secret_enc = NULL WHERE mfa_enabled = 0 AND mfa_secret_enc IS NOT NULL;
