"""sshgate: an SSH certificate authority and gatekeeper that enforces an org's MFA rule."""

__version__ = "0.1.0"
