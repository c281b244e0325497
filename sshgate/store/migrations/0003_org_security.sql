-- sshgate schema, version 3: MFA reminders, and the live sessions of every gateway.
--
-- Portable like 0001 (SQLite and PostgreSQL): TEXT, INTEGER/BIGINT, DOUBLE PRECISION for
-- Unix times, booleans as INTEGER 0/1.

-- One row per reminder. A sender first claims the slot with a 'pending' row (claimed_at),
-- sends the email, then marks it 'sent' (sent_at) or deletes it when the mail server
-- failed: only 'sent' rows are reminders, and a pending row keeps a second sender (another
-- process) from mailing the same user at the same time. A pending row whose sender died
-- stops counting after a while (policy/reminders.py CLAIM_TTL).
CREATE TABLE reminders (
    id TEXT PRIMARY KEY,
    org TEXT NOT NULL REFERENCES orgs (name) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id),
    sent_by TEXT REFERENCES users (id),
    state TEXT NOT NULL CHECK (state IN ('pending', 'sent')),
    claimed_at DOUBLE PRECISION NOT NULL,
    sent_at DOUBLE PRECISION,
    CHECK ((state = 'sent') = (sent_at IS NOT NULL))
);

CREATE INDEX reminders_org_user_id ON reminders (org, user_id);

-- Each running gateway process, by an id it picks at start, with its last heartbeat.
CREATE TABLE gateway_instances (
    id TEXT PRIMARY KEY,
    heartbeat_at DOUBLE PRECISION NOT NULL
);

-- The sessions gateways have let through and not ended yet. No foreign keys: a gateway
-- must be able to record a session whatever happens to the user or project meanwhile, and
-- rows of a gateway that stopped heartbeating are ignored, then forgotten.
CREATE TABLE live_sessions (
    id TEXT PRIMARY KEY,
    gateway_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    serial BIGINT NOT NULL,
    project_id TEXT,
    org TEXT NOT NULL,
    has_mfa INTEGER NOT NULL CHECK (has_mfa IN (0, 1)),
    opened_at DOUBLE PRECISION NOT NULL
);

CREATE INDEX live_sessions_org ON live_sessions (org);
CREATE INDEX live_sessions_gateway_id ON live_sessions (gateway_id);
