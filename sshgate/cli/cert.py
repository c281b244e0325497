"""`sshgate cert info|ensure`"""

from __future__ import annotations

import sys
import time

import click

from sshgate.cli._help import Group
from sshgate.cli._output import Refusal, emit, json_option
from sshgate.cli._user import home


def iso(ts: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


@click.group(cls=Group)
def cert() -> None:
    """Your SSH certificate."""


@cert.command("info")
@json_option
def info(as_json: bool) -> None:
    """Show the current certificate: key ID, serial, principals, validity, amr."""
    from sshgate.ca import CAError, parse_certificate_line

    path = home() / "id_ed25519-cert.pub"
    try:
        presented = parse_certificate_line(path.read_text(encoding="utf-8"))
        claims = presented.claims()
    except OSError:
        raise Refusal("no certificate: run sshgate login") from None
    except CAError as exc:
        raise Refusal(f"{path}: not a usable certificate ({exc})") from None
    data = {
        "key_id": presented.key_id,
        "serial": presented.serial,
        "principals": list(presented.principals),
        "valid_after": iso(presented.valid_after),
        "valid_before": iso(presented.valid_before),
        "amr": list(claims.amr),
        "mfa": claims.has_mfa,
    }
    expired = presented.valid_before <= time.time()
    emit(
        as_json,
        data,
        [
            f"key ID:     {data['key_id']}",
            f"serial:     {data['serial']}",
            f"principals: {', '.join(presented.principals)}",
            f"valid:      {data['valid_after']} to {data['valid_before']}"
            + (" (expired)" if expired else ""),
            f"amr:        {', '.join(claims.amr)}",
            f"mfa:        {'yes' if claims.has_mfa else 'no'}",
        ],
    )


@cert.command("ensure", context_settings={"ignore_unknown_options": True})
@click.option("--home", "home_path", help="The sshgate folder (default: $SSHGATE_HOME).")
def ensure(home_path: str | None) -> None:
    """Renew a certificate that expires within 5 minutes (run by OpenSSH before connecting)."""
    from sshgate.client import ensure_main

    sys.exit(ensure_main(["--home", home_path] if home_path else []))
