"""Recovery codes: 10 single-use codes that stand in for a lost authenticator.

A code reads like ``k3x9-p2qa-7mzt``: 12 characters of a-z0-9 (62 bits), in groups of four
so that people can copy it. Typing it without dashes, with spaces or in upper case works.
Only an HMAC-SHA256 of the normalized code, keyed by the secrets key, is stored: a stolen
database does not allow an offline guess. Pure apart from the random generator.
"""

from __future__ import annotations

import hmac
import re
import secrets
import string
from collections.abc import Iterable

from sshgate.accounts.secretbox import SecretBox

__all__ = ["CODE_COUNT", "code_hash", "code_hashes", "find_match", "generate", "normalize"]

CODE_COUNT = 10
_ALPHABET = string.ascii_lowercase + string.digits
_GROUPS = 3
_GROUP_LENGTH = 4
_LENGTH = _GROUPS * _GROUP_LENGTH  # 36**12 ≈ 2**62
_NORMALIZED = re.compile(rf"[a-z0-9]{{{_LENGTH}}}")
_PURPOSE = "recovery-code"


def generate(count: int = CODE_COUNT) -> list[str]:
    """`count` fresh, distinct codes in their display form."""
    codes: set[str] = set()
    while len(codes) < count:
        raw = "".join(secrets.choice(_ALPHABET) for _ in range(_LENGTH))
        codes.add("-".join(raw[i : i + _GROUP_LENGTH] for i in range(0, _LENGTH, _GROUP_LENGTH)))
    return sorted(codes)


def normalize(code: str) -> str | None:
    """The 12 characters a code is made of, or None when `code` cannot be a recovery code."""
    compact = "".join(code.split()).replace("-", "").lower()
    return compact if _NORMALIZED.fullmatch(compact) else None


def code_hash(box: SecretBox, code: str) -> str | None:
    """What the store keeps of a code; None when `code` is not a recovery code at all."""
    normalized = normalize(code)
    return None if normalized is None else box.keyed_hash(_PURPOSE, normalized.encode("ascii"))


def code_hashes(box: SecretBox, codes: Iterable[str]) -> list[str]:
    """The hashes to store for freshly generated codes."""
    hashes = [code_hash(box, code) for code in codes]
    return [h for h in hashes if h is not None]


def find_match(candidate: str, stored: Iterable[str]) -> str | None:
    """The stored hash equal to `candidate`, comparing in constant time against every one,
    so the time taken does not tell how close a guess was or which code it matched."""
    found: str | None = None
    for stored_hash in stored:
        if hmac.compare_digest(candidate, stored_hash):
            found = stored_hash
    return found
