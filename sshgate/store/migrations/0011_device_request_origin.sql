-- When and from which address a `sshgate login --device` request was started, shown on the
-- approval page so that a person approves only the code of their own terminal (RFC 8628
-- §5.4, device-code phishing).
ALTER TABLE device_codes ADD COLUMN requested_at DOUBLE PRECISION;
ALTER TABLE device_codes ADD COLUMN requested_from TEXT;
