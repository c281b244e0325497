"""The "MFA required" level and the second factors, as the CLI takes and shows them: the
same words in `sshgate org` (through the API) and `sshgate admin org` (on the store)."""

from __future__ import annotations

import click

LEVELS = ("any", "phishing-resistant")
FACTOR_WORDS = {"totp": "authenticator app", "webauthn": "security key"}

level_option = click.option(
    "--level",
    type=click.Choice(LEVELS),
    default="any",
    show_default=True,
    help="Which logins count when switched on: any second factor, or only a security key or"
    " passkey (phishing-resistant).",
)


def level_words(state: str, level: str) -> str:
    """What follows `"MFA required" is on for ORG`: nothing at level any."""
    return f" (level {level})" if state == "on" and level != "any" else ""


def switched_line(org: str, state: str, level: str) -> str:
    """`"MFA required" is on for ORG (level phishing-resistant)`."""
    return f'"MFA required" is {state} for {org}{level_words(state, level)}'


def switched_json(org: str, mfa_required: bool, level: str, closing: int) -> dict[str, object]:
    """The `--json` answer of both switches."""
    return {
        "org": org,
        "mfa_required": mfa_required,
        "mfa_level": level,
        "sessions_to_close": closing,
    }


def factor_words(factors: list[str]) -> str:
    """A member's factors for people: "authenticator app, security key", or "-"."""
    return ", ".join(FACTOR_WORDS.get(f, f) for f in factors) or "-"
