-- sshgate schema, version 1.
--
-- Written for both SQLite and PostgreSQL: TEXT, INTEGER/BIGINT, DOUBLE PRECISION for Unix
-- times, booleans as INTEGER 0/1, and no AUTOINCREMENT. Two spellings are chosen on purpose:
--   * BYTEA has NUMERIC affinity in SQLite, which stores bytes unchanged, and is PostgreSQL's
--     binary type;
--   * audit.id is INTEGER PRIMARY KEY, SQLite's rowid alias; a PostgreSQL store gives it an
--     identity default in its own follow-up statement.
-- Certificate serials are unsigned 64-bit but BIGINT is signed: they are stored as the
-- two's-complement reinterpretation (serial - 2^64 when serial >= 2^63), see _rows.py.
-- schema_migrations is created by the migration runner itself.

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at DOUBLE PRECISION NOT NULL,
    mfa_enabled INTEGER NOT NULL DEFAULT 0 CHECK (mfa_enabled IN (0, 1)),
    mfa_since DOUBLE PRECISION,
    mfa_revoked_at DOUBLE PRECISION,
    mfa_secret_enc BYTEA,
    mfa_last_step BIGINT,
    mfa_failures INTEGER NOT NULL DEFAULT 0,
    mfa_locked_until DOUBLE PRECISION
);

CREATE TABLE orgs (
    name TEXT PRIMARY KEY,
    mfa_required INTEGER NOT NULL DEFAULT 0 CHECK (mfa_required IN (0, 1)),
    created_at DOUBLE PRECISION NOT NULL
);

CREATE TABLE org_addons (
    org TEXT NOT NULL REFERENCES orgs (name) ON DELETE CASCADE,
    addon TEXT NOT NULL,
    PRIMARY KEY (org, addon)
);

CREATE TABLE org_members (
    org TEXT NOT NULL REFERENCES orgs (name) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id),
    role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    PRIMARY KEY (org, user_id)
);

-- orgs_of(user) and "which orgs does this user belong to" in the API.
CREATE INDEX org_members_user_id ON org_members (user_id);

CREATE TABLE projects (
    id TEXT PRIMARY KEY CHECK (length(id) = 13),
    org TEXT NOT NULL REFERENCES orgs (name),
    title TEXT NOT NULL,
    git_user TEXT,
    git_host TEXT,
    git_port INTEGER,
    git_host_keys TEXT NOT NULL DEFAULT '',
    git_path TEXT NOT NULL DEFAULT '',
    created_at DOUBLE PRECISION NOT NULL,
    -- a git upstream is all there or not at all
    CHECK ((git_user IS NULL AND git_host IS NULL AND git_port IS NULL)
        OR (git_user IS NOT NULL AND git_host IS NOT NULL AND git_port IS NOT NULL))
);

CREATE INDEX projects_org ON projects (org);

CREATE TABLE project_grants (
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id),
    role TEXT NOT NULL CHECK (role IN ('viewer', 'contributor', 'admin')),
    PRIMARY KEY (project_id, user_id)
);

CREATE INDEX project_grants_user_id ON project_grants (user_id);

-- One row per app of an environment; all apps of (project_id, name) share machine_name.
CREATE TABLE environments (
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    app TEXT NOT NULL,
    machine_name TEXT NOT NULL,
    upstream_user TEXT NOT NULL,
    upstream_host TEXT NOT NULL,
    upstream_port INTEGER NOT NULL,
    host_keys TEXT NOT NULL DEFAULT '',
    created_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (project_id, name, app)
);

CREATE TABLE certificates (
    serial BIGINT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    key_fingerprint TEXT NOT NULL,
    valid_after BIGINT NOT NULL,
    valid_before BIGINT NOT NULL,
    amr TEXT NOT NULL,
    jti TEXT NOT NULL,
    ca_fingerprint TEXT NOT NULL,
    issued_at DOUBLE PRECISION NOT NULL,
    revoked_at DOUBLE PRECISION
);

CREATE INDEX certificates_user_id ON certificates (user_id);

CREATE TABLE ca_keys (
    fingerprint TEXT PRIMARY KEY,
    public_key TEXT NOT NULL,
    added_at DOUBLE PRECISION NOT NULL,
    retired_at DOUBLE PRECISION
);

CREATE TABLE gateway_host_keys (
    public_key TEXT PRIMARY KEY,
    public_host TEXT NOT NULL,
    public_port INTEGER NOT NULL,
    recorded_at DOUBLE PRECISION NOT NULL
);

CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    time DOUBLE PRECISION NOT NULL,
    user_id TEXT,
    serial BIGINT,
    client TEXT,
    service TEXT,
    kind TEXT NOT NULL,
    decision TEXT NOT NULL,
    reason TEXT NOT NULL,
    detail TEXT,
    bytes_in BIGINT,
    bytes_out BIGINT,
    exit_status INTEGER,
    duration DOUBLE PRECISION
);

CREATE INDEX audit_time ON audit (time);
CREATE INDEX audit_user_id_time ON audit (user_id, time);

-- Gateways poll this one row to learn that a decision may have changed.
CREATE TABLE policy_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);

INSERT INTO policy_version (id, version) VALUES (1, 0);
