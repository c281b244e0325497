"""Adds the key and its certificate to a running ssh-agent for the certificate's lifetime."""

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
