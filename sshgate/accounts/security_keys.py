"""Security keys and passkeys as a second factor (WebAuthn, verified by the `webauthn`
package): registering one, signing in with one, listing and removing them.

Each ceremony has two steps. The first makes a random challenge, stored server-side for
CHALLENGE_TTL seconds and bound to what started it (`bound_to`: the login session that adds
a key, or the sign-in whose password was just checked); the second takes that challenge
once and verifies the browser's answer against it, the relying party id and the origin
(`relying_party.py`). User verification is preferred, attestation is `none`.

* Adding the first key of a user without MFA turns MFA on, with 10 recovery codes shown once.
* A sign-in answer takes a second-factor attempt first, as a code does (5 wrong ones lock
  the second factor for 15 minutes), and succeeds only when the key's signature counter
  moves forward; a counter that goes backwards is refused and audited (a cloned key).
* Removing a key needs the password; removing the last one also needs a second factor (an
  authenticator or recovery code), and turns MFA off when no authenticator app is left.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import webauthn
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from sshgate.accounts import recovery
from sshgate.accounts.credentials import PasswordCheck
from sshgate.accounts.errors import (
    InvalidCode,
    KeyCounterWentBack,
    KeyNotAccepted,
    KeyNotFound,
    KeysUnavailable,
    SecondFactorLocked,
    WrongPassword,
)
from sshgate.accounts.relying_party import (
    RelyingParty,
    counter_moves_forward,
    key_name,
    relying_party,
)
from sshgate.accounts.second_factor import SecondFactor
from sshgate.accounts.secretbox import SecretBox
from sshgate.policy import User
from sshgate.store import AuditEvent, KeyRemoval, SecurityKey, Store, WebAuthnChallenge

__all__ = ["CHALLENGE_TTL", "AddedKey", "Ceremony", "SecurityKeys"]

CHALLENGE_TTL = 180.0
TIMEOUT_MS = 120_000
MAX_CREDENTIAL_BYTES = 16384
# WebAuthn's limit on a credential id (Level 3, registration step "credentialId is ≤ 1023
# bytes"); longer ones would also exceed what PostgreSQL can index (the column is UNIQUE).
MAX_CREDENTIAL_ID_BYTES = 1023
AUDIT_KIND = "account:security-key"


@dataclass(frozen=True)
class Ceremony:
    """The first step's answer: the challenge's id (sent back with the browser's answer) and
    the options for navigator.credentials, as JSON."""

    challenge_id: str
    options: str


@dataclass(frozen=True)
class AddedKey:
    key: SecurityKey
    recovery_codes: list[str] | None  # when this key turned MFA on: shown once


class SecurityKeys:
    def __init__(
        self,
        store: Store,
        box: SecretBox,
        passwords: PasswordCheck,
        second_factor: SecondFactor,
        public_url: str,
        now: Callable[[], float],
    ) -> None:
        self._store = store
        self._box = box
        self._passwords = passwords
        self._second_factor = second_factor
        self._public_url = public_url
        self._now = now

    @property
    def relying_party(self) -> RelyingParty:
        """KeysUnavailable (saying why) when api.public_url has no relying party."""
        return relying_party(self._public_url)

    @property
    def unavailable_reason(self) -> str | None:
        """Why keys cannot be used here (an IP address in api.public_url), or None."""
        try:
            relying_party(self._public_url)
        except KeysUnavailable as exc:
            return str(exc)
        return None

    # adding a key

    async def registration_options(self, user: User, bound_to: str) -> Ceremony:
        rp = self.relying_party
        existing = await self._store.list_security_keys(user.id)
        options = webauthn.generate_registration_options(
            rp_id=rp.id,
            rp_name=rp.name,
            user_name=user.username,
            user_id=user.id.encode("ascii"),
            user_display_name=user.username,
            timeout=TIMEOUT_MS,
            attestation=AttestationConveyancePreference.NONE,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.PREFERRED,
                user_verification=UserVerificationRequirement.PREFERRED,
            ),
            exclude_credentials=[_descriptor(k) for k in existing],
        )
        return await self._ceremony(user, "register", bound_to, options)

    async def register(
        self, user: User, bound_to: str, challenge_id: str, credential: str, name: str | None
    ) -> AddedKey:
        """Verify the browser's answer and keep the key; KeyNotAccepted when it does not
        verify, ValueError for a bad name."""
        rp = self.relying_party
        chosen = key_name(name)
        if chosen is None:
            raise ValueError("a key name is 1 to 64 printable characters")
        challenge = await self._take(user, "register", bound_to, challenge_id)
        try:
            verified = webauthn.verify_registration_response(
                credential=_bounded(credential),
                expected_challenge=base64url_to_bytes(challenge.challenge),
                expected_rp_id=rp.id,
                expected_origin=rp.origin,
            )
        except (WebAuthnException, ValueError):
            raise KeyNotAccepted() from None
        if len(verified.credential_id) > MAX_CREDENTIAL_ID_BYTES:
            raise KeyNotAccepted()
        now = self._now()
        key = SecurityKey(
            id=str(uuid.uuid4()),
            user_id=user.id,
            name=chosen,
            credential_id=bytes_to_base64url(verified.credential_id),
            public_key=bytes_to_base64url(verified.credential_public_key),
            sign_count=verified.sign_count,
            created_at=now,
        )
        codes = None if user.mfa_enabled else recovery.generate()
        hashes = None if codes is None else recovery.code_hashes(self._box, codes)
        turned_on = await self._store.add_security_key(key, hashes, now)
        return AddedKey(key, codes if turned_on else None)

    # signing in with a key

    async def authentication_options(self, user: User, bound_to: str) -> Ceremony:
        rp = self.relying_party
        keys = await self._store.list_security_keys(user.id)
        if not keys:
            raise KeyNotAccepted("this account has no security key or passkey")
        options = webauthn.generate_authentication_options(
            rp_id=rp.id,
            timeout=TIMEOUT_MS,
            allow_credentials=[_descriptor(k) for k in keys],
            user_verification=UserVerificationRequirement.PREFERRED,
        )
        return await self._ceremony(user, "authenticate", bound_to, options)

    async def authenticate(
        self, user: User, bound_to: str, challenge_id: str, credential: str, client: str = ""
    ) -> SecurityKey:
        """The key that answered, once its answer verified and its counter moved forward.
        Takes a second-factor attempt first (SecondFactorLocked); KeyNotAccepted or
        KeyCounterWentBack (audited) otherwise."""
        rp = self.relying_party
        now = self._now()
        attempt = await self._second_factor.admit(user.id, now)
        try:
            return await self._check_assertion(user, rp, bound_to, challenge_id, credential, now)
        except KeyCounterWentBack:
            await self._store.audit(
                AuditEvent(
                    time=now,
                    kind=AUDIT_KIND,
                    decision="deny",
                    reason="key-counter-went-back",
                    user_id=user.id,
                    client=client or None,
                )
            )
            raise
        except KeyNotAccepted:
            if attempt.locked_until is not None:
                raise SecondFactorLocked(attempt.locked_until - now) from None
            raise

    async def _check_assertion(
        self,
        user: User,
        rp: RelyingParty,
        bound_to: str,
        challenge_id: str,
        credential: str,
        now: float,
    ) -> SecurityKey:
        challenge = await self._take(user, "authenticate", bound_to, challenge_id)
        answered = _credential_id(credential)
        key = next(
            (
                k
                for k in await self._store.list_security_keys(user.id)
                if k.credential_id == answered
            ),
            None,
        )
        if key is None:
            raise KeyNotAccepted()
        try:
            # The counter rule is ours (counter_moves_forward), so that a cloned key is told
            # apart from a bad answer: the library is given 0 and never refuses on it.
            verified = webauthn.verify_authentication_response(
                credential=credential,
                expected_challenge=base64url_to_bytes(challenge.challenge),
                expected_rp_id=rp.id,
                expected_origin=rp.origin,
                credential_public_key=base64url_to_bytes(key.public_key),
                credential_current_sign_count=0,
            )
        except (WebAuthnException, ValueError):
            raise KeyNotAccepted() from None
        if not counter_moves_forward(key.sign_count, verified.new_sign_count):
            raise KeyCounterWentBack()
        if not await self._store.use_security_key(user.id, key.id, verified.new_sign_count, now):
            raise KeyCounterWentBack()  # another answer with this counter won the race
        return key

    # the list

    async def list(self, user: User) -> list[SecurityKey]:
        return await self._store.list_security_keys(user.id)

    async def remove(
        self, user: User, key_id: str, password: str, code: str | None, client: str = ""
    ) -> int:
        """Remove one of the user's keys after the password (and, for the last key, a code);
        returns how many login sessions ended (MFA went off with the last factor)."""
        keys = await self._store.list_security_keys(user.id)
        if not any(k.id == key_id for k in keys):
            raise KeyNotFound()
        if await self._passwords.verify(user.username, password, client) is None:
            raise WrongPassword()
        # The list above may be stale by now (another removal racing): it only decides to ask
        # for the code early; the store decides "last" in the delete's own transaction.
        code_verified = len(keys) == 1
        if code_verified:
            await self._verify_removal_code(user, code)
        outcome, ended = await self._store.remove_security_key(
            user.id, key_id, self._now(), code_verified
        )
        if outcome is KeyRemoval.LAST:
            await self._verify_removal_code(user, None)  # refuses: a code is needed now
        if outcome is not KeyRemoval.REMOVED:
            raise KeyNotFound()
        return ended

    async def _verify_removal_code(self, user: User, code: str | None) -> None:
        if not code:
            raise InvalidCode(
                "removing your last security key needs a code from your authenticator app"
                " or a recovery code"
            )
        await self._second_factor.verify(user.id, code)

    async def _ceremony(self, user: User, purpose: str, bound_to: str, options: Any) -> Ceremony:
        now = self._now()
        challenge = WebAuthnChallenge(
            id=secrets.token_urlsafe(18),
            user_id=user.id,
            purpose=purpose,
            challenge=bytes_to_base64url(options.challenge),
            bound_to=bound_to,
            expires_at=now + CHALLENGE_TTL,
        )
        await self._store.save_webauthn_challenge(challenge, now)
        return Ceremony(challenge.id, webauthn.options_to_json(options))

    async def _take(
        self, user: User, purpose: str, bound_to: str, challenge_id: str
    ) -> WebAuthnChallenge:
        taken = await self._store.take_webauthn_challenge(
            challenge_id[:64], user.id, purpose, bound_to, self._now()
        )
        if taken is None:
            raise KeyNotAccepted("this security key request expired or was already used")
        return taken


def _descriptor(key: SecurityKey) -> PublicKeyCredentialDescriptor:
    return PublicKeyCredentialDescriptor(id=base64url_to_bytes(key.credential_id))


def _bounded(credential: str) -> str:
    if len(credential) > MAX_CREDENTIAL_BYTES:
        raise ValueError("credential too large")
    return credential


def _credential_id(credential: str) -> str:
    """The credential id the browser's answer names (its `rawId`), as stored."""
    try:
        document = json.loads(_bounded(credential))
        raw = document["rawId"]
        if not isinstance(raw, str):
            raise TypeError
        return bytes_to_base64url(base64url_to_bytes(raw))
    except (ValueError, KeyError, TypeError):
        raise KeyNotAccepted() from None
