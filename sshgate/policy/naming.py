"""Generated names: project ids, environment machine names, and the upstream spec parser."""

from __future__ import annotations

import re
import secrets

from sshgate.policy.model import Endpoint

_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
_UPSTREAM = re.compile(
    r"(?P<user>[A-Za-z0-9._-]{1,64})@(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)"
    r":(?P<port>[0-9]{1,5})"
)


def random_name(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_project_id() -> str:
    return random_name(13)


def new_machine_name(env_name: str) -> str:
    return f"{env_name}-{random_name(7)}"


class SpecError(ValueError):
    """An `--upstream` or `--git-upstream` value is not in the documented form."""


def parse_upstream(spec: str, host_keys: tuple[str, ...] = ()) -> Endpoint:
    """`USER@HOST:PORT`."""
    match = _UPSTREAM.fullmatch(spec)
    if not match or not 0 < int(match["port"]) < 65536:
        raise SpecError(f"expected USER@HOST:PORT, got {spec!r}")
    return Endpoint(match["user"], match["host"].strip("[]"), int(match["port"]), host_keys)


def parse_git_upstream(spec: str, host_keys: tuple[str, ...] = ()) -> tuple[Endpoint, str]:
    """`USER@HOST:PORT:/path/repo.git`."""
    head, sep, path = spec.partition(":/")
    wrong = SpecError(f"expected USER@HOST:PORT:/path/repo.git, got {spec!r}")
    if not sep:
        raise wrong
    try:
        return parse_upstream(head, host_keys), "/" + path
    except SpecError:
        raise wrong from None


def parse_host_key_lines(text: str) -> tuple[str, ...]:
    """Public keys from `ssh-keygen`'s `.pub` format or known_hosts lines, as `type base64`."""
    keys = []
    for raw in text.splitlines():
        words = raw.strip().split()
        if not words or words[0].startswith("#"):
            continue
        if words[0].startswith("@"):
            continue  # @cert-authority / @revoked markers are not host keys
        while words and not _is_key_type(words[0]):
            words = words[1:]
        if len(words) >= 2:
            keys.append(f"{words[0]} {words[1]}")
    return tuple(dict.fromkeys(keys))


def _is_key_type(word: str) -> bool:
    return word.startswith(("ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-"))
