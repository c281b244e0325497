"""Adds the key and its certificate to a running ssh-agent for the certificate's lifetime,
and removes them at logout."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from sshgate.client.home import KEY_FILE


def add_to_agent(home: Path, lifetime: int) -> bool:
    """True when an agent runs and took the key (ssh-add adds the -cert.pub beside it)."""
    if not os.environ.get("SSH_AUTH_SOCK") or lifetime <= 0:
        return False
    try:
        result = subprocess.run(
            ["ssh-add", "-q", "-t", str(lifetime), str(home / KEY_FILE)],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def remove_from_agent(home: Path) -> bool:
    """True when an agent runs and let go of the key and its certificate (`ssh-add -d` with
    the key file removes the certificate beside it too). Called before the files go."""
    key = home / KEY_FILE
    if not os.environ.get("SSH_AUTH_SOCK") or not key.exists():
        return False
    try:
        result = subprocess.run(
            ["ssh-add", "-q", "-d", str(key)],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0
