"""`sshgate cert ensure`: run by OpenSSH (`Match ... exec`) before every gateway connection.

Fast when there is nothing to do: standard library only until a renewal is needed. It
renews a certificate that expires within 5 minutes while the login session is valid,
keeping the session's amr; when the session has ended, or the user logged out, it prints
one line saying what to run and exits 0, so the connection goes on to the gateway's own
refusal.
"""

from __future__ import annotations

import sys
import time

from sshgate.client.home import State, home_dir

RENEW_WITHIN = 300
SESSION_ENDED = "sshgate: your login session has ended; run: sshgate login -f"
LOGGED_OUT = "sshgate: you are not logged in; run: sshgate login"


def needs_renewal(state: State, now: float) -> bool:
    return state.valid_before - now <= RENEW_WITHIN


def ensure_main(args: list[str]) -> int:
    home_arg = None
    if len(args) >= 2 and args[0] == "--home":
        home_arg = args[1]
    home = home_dir(home_arg)
    state = State.load(home)
    if state is None or not state.token:
        # logged out (or never in): say so before OpenSSH's "no such identity"
        sys.stderr.write(LOGGED_OUT + "\n")
        return 0
    now = time.time()
    if not needs_renewal(state, now):
        return 0
    if state.session_ended or (state.token_kind == "session" and state.session_expires_at <= now):
        sys.stderr.write(SESSION_ENDED + "\n")
        return 0
    from sshgate.client.renew import SessionEnded, renew

    try:
        renew(home, state)
    except SessionEnded:
        sys.stderr.write(SESSION_ENDED + "\n")
    except Exception as exc:  # never block the connection: the gateway decides
        sys.stderr.write(f"sshgate: could not renew the certificate: {exc}\n")
    return 0
