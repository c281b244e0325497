-- The login session that allowed a `sshgate login --web` code or approved a `--device` code:
-- the exchange needs it still live (not logged out, not revoked by a password change or
-- reset), and the new session ends no later than it. NULL (a grant from before this
-- migration) is refused at the exchange.
ALTER TABLE oauth_codes ADD COLUMN session_id TEXT;
ALTER TABLE device_codes ADD COLUMN session_id TEXT;
