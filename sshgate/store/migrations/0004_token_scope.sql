-- sshgate schema, version 4: API token scope and expiry; certificates found by the login
-- session or token that got them (jti), so that ending one revokes them.
--
-- Portable like 0001 (SQLite and PostgreSQL).

-- 'certificate': issue certificates, read the authority and whoami; 'account': everything
-- the user may do. Tokens made before this version had no scope: they become 'certificate'
-- (a bot pushes and pulls with it); an owner re-creates one with --scope account if needed.
ALTER TABLE api_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'certificate'
    CHECK (scope IN ('certificate', 'account'));

-- Unix time after which the token is refused; NULL: until revoked.
ALTER TABLE api_tokens ADD COLUMN expires_at DOUBLE PRECISION;

CREATE INDEX certificates_jti ON certificates (jti);
