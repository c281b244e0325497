"""The user's side through the real `sshgate` command line, over the HTTP API, in the order
tests/e2e/test_login_flow.py follows: log in, set up MFA, verify it, log in again with a
TOTP code. What that leaves in `$SSHGATE_HOME` (a key, a certificate with `amr` pwd,mfa, the
login session and the ssh_config snippet with its `cert ensure` hook) is what a user has."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import pyotp

from bench.processes import BenchSetupError, sshgate_json
from sshgate.client.home import State

TOTP_STEP = 30
WITH_MFA = ["pwd", "otp", "mfa"]


class TotpCodes:
    """Codes from time steps not used yet: the API refuses a step it has seen (pyotp's
    `verify_and_get_timecode`) and accepts ±1 step, so the current step and then the next
    one are both good without waiting."""

    def __init__(self, secret: str) -> None:
        self._totp = pyotp.TOTP(secret)
        self._used: set[int] = set()

    def fresh(self) -> str:
        for offset in (0, TOTP_STEP, -TOTP_STEP):
            step = int((time.time() + offset) // TOTP_STEP)
            if step not in self._used:
                self._used.add(step)
                return self._totp.at(step * TOTP_STEP)
        raise BenchSetupError("no unused TOTP time step left")


@dataclass(frozen=True)
class UserHome:
    """One user's `$SSHGATE_HOME` and the environment the user's `sshgate` runs with."""

    home: Path
    env: dict[str, str]

    @classmethod
    def create(cls, home: Path, api_url: str) -> UserHome:
        env = {**os.environ, "SSHGATE_HOME": str(home), "SSHGATE_API": api_url}
        env.pop("SSHGATE_CONFIG", None)  # the user's CLI knows the API, not the server's config
        env.pop("SSH_AUTH_SOCK", None)  # keep the certificate out of a developer's ssh-agent
        return cls(home, env)

    @property
    def snippet(self) -> Path:
        """The ssh_config snippet `sshgate login` wrote."""
        return self.home / "ssh_config"

    def sshgate(self, *args: str, stdin: str | None = None) -> dict[str, object]:
        return sshgate_json(*args, env=self.env, stdin=stdin)

    def enable_mfa(self, username: str, password: str) -> None:
        """Log in, enable MFA (setup, verify) and log in again with a code: the session and
        the certificate then carry `amr` pwd,mfa."""
        self.sshgate("login", "--user", username, "--password-stdin", stdin=password + "\n")
        codes = TotpCodes(str(self.sshgate("mfa", "setup")["secret"]))
        verified = self.sshgate("mfa", "verify", codes.fresh())
        if verified.get("mfa") is not True:
            raise BenchSetupError(f"sshgate mfa verify did not enable MFA: {verified}")
        login = self.sshgate(
            "login", "-f", "--password-stdin", "--totp", codes.fresh(), stdin=password + "\n"
        )
        if login.get("amr") != WITH_MFA:
            raise BenchSetupError(f"sshgate login with a TOTP code got amr {login.get('amr')}")

    def state(self) -> State:
        state = State.load(self.home)
        if state is None or not state.token:
            raise BenchSetupError(f"no login session in {self.home}")
        return state
