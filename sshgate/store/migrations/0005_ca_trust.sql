-- sshgate schema, version 5: shutting out a leaked CA key.
--
-- Portable like 0001 (SQLite and PostgreSQL). Serials are stored as in certificates.serial
-- (two's-complement BIGINT, see _rows.py).

-- CA keys no gateway trusts any more, whether the store's own or from ca.trusted_public_keys
-- files (`sshgate admin ca distrust FINGERPRINT`). A row is never removed by sshgate.
CREATE TABLE distrusted_ca_keys (
    fingerprint TEXT PRIMARY KEY,
    distrusted_at DOUBLE PRECISION NOT NULL
);

-- Serials revoked per CA key, like an OpenSSH KRL, for certificates not in the ledger (those
-- of ca.trusted_public_keys CAs): `sshgate admin cert revoke SERIAL --ca FINGERPRINT`.
CREATE TABLE revoked_serials (
    ca_fingerprint TEXT NOT NULL,
    serial BIGINT NOT NULL,
    revoked_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (ca_fingerprint, serial)
);

-- Key IDs (user ids) whose certificates from ca.trusted_public_keys CAs are revoked when
-- their validity began before revoked_at (`cert revoke --user`, password change, disable).
CREATE TABLE revoked_key_ids (
    key_id TEXT PRIMARY KEY,
    revoked_at DOUBLE PRECISION NOT NULL
);
