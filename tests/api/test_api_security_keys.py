"""Security keys and passkeys over the API, with a software authenticator (tests/support/
softkey.py) answering as a browser would: adding a key (the first turns MFA on, recovery
codes once), signing in with password + key (amr ["pwd","hwk","mfa"]), and what is refused:
a wrong origin or relying party id, a challenge used twice or of another sign-in, a
signature counter that goes backwards (audited), removing the last key without a code."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import httpx
import pyotp
import pytest

from sshgate.accounts import relying_party
from sshgate.accounts.errors import KeysUnavailable
from tests.api.conftest import PASSWORD, PUBLIC_URL, Site, auth
from tests.support.softkey import SoftKey

ORIGIN = PUBLIC_URL
RP_ID = "localhost"


async def add_key(site: Site, bearer: str, key: SoftKey, name: str = "yubikey") -> httpx.Response:
    options = await site.client.post("/api/account/security-keys/options", headers=auth(bearer))
    assert options.status_code == 200, options.text
    body = options.json()
    assert body["options"]["rp"]["id"] == RP_ID
    assert body["options"]["attestation"] == "none"
    assert body["options"]["authenticatorSelection"]["userVerification"] == "preferred"
    return await site.client.post(
        "/api/account/security-keys",
        json={
            "challenge_id": body["challenge_id"],
            "credential": key.create(body["options"]),
            "name": name,
        },
        headers=auth(bearer),
    )


async def key_options(site: Site, username: str = "alice") -> dict[str, Any]:
    response = await site.client.post(
        "/api/auth/key/options", json={"username": username, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def sign_in(
    site: Site, key: SoftKey, begun: dict[str, Any], counter_step: int = 1
) -> httpx.Response:
    return await site.client.post(
        "/api/auth/key",
        json={
            "ticket": begun["ticket"],
            "challenge_id": begun["challenge_id"],
            "credential": key.get(begun["options"], counter_step),
        },
    )


@pytest.fixture
async def alice(site: Site) -> str:
    await site.add_user("alice")
    return await site.token("alice")


async def test_a_first_key_turns_mfa_on_with_recovery_codes_shown_once(
    site: Site, alice: str
) -> None:
    first = await add_key(site, alice, SoftKey(RP_ID, ORIGIN))
    assert first.status_code == 201, first.text
    assert first.json()["name"] == "yubikey" and len(first.json()["recovery_codes"]) == 10
    account = (await site.client.get("/api/account", headers=auth(alice))).json()
    assert account["mfa"] is True
    second = await add_key(site, alice, SoftKey(RP_ID, ORIGIN), "phone")
    assert second.status_code == 201 and second.json()["recovery_codes"] is None
    listed = (await site.client.get("/api/account/security-keys", headers=auth(alice))).json()
    assert sorted(k["name"] for k in listed["items"]) == ["phone", "yubikey"]
    assert all(k["created_at"].endswith("Z") and k["last_used_at"] is None for k in listed["items"])


async def test_sign_in_with_password_and_key_gets_amr_hwk(site: Site, alice: str) -> None:
    key = SoftKey(RP_ID, ORIGIN)
    assert (await add_key(site, alice, key)).status_code == 201
    answer = await sign_in(site, key, await key_options(site))
    assert answer.status_code == 200, answer.text
    assert answer.json()["amr"] == ["pwd", "hwk", "mfa"]
    account = await site.client.get("/api/account", headers=auth(answer.json()["token"]))
    assert account.json()["amr"] == ["pwd", "hwk", "mfa"]
    listed = (await site.client.get("/api/account/security-keys", headers=auth(alice))).json()
    assert listed["items"][0]["last_used_at"] is not None


async def test_a_password_alone_no_longer_logs_in_once_a_key_turned_mfa_on(
    site: Site, alice: str
) -> None:
    assert (await add_key(site, alice, SoftKey(RP_ID, ORIGIN))).status_code == 201
    response = await site.login("alice")
    assert response.status_code == 401 and response.json()["error"] == "mfa_code_required"


async def test_the_wrong_password_gets_no_challenge(site: Site, alice: str) -> None:
    response = await site.client.post(
        "/api/auth/key/options", json={"username": "alice", "password": "wrong password"}
    )
    assert response.status_code == 401 and response.json()["error"] == "invalid_credentials"


@pytest.mark.parametrize(
    ("origin", "rp_id"),
    [
        ("http://localhost.evil.example", RP_ID),
        (ORIGIN, "evil.example"),
        ("https://localhost:8022", RP_ID),
    ],
    ids=["phishing-origin", "other-relying-party", "other-scheme"],
)
async def test_an_answer_for_another_origin_or_relying_party_is_refused(
    site: Site, alice: str, origin: str, rp_id: str
) -> None:
    key = SoftKey(RP_ID, ORIGIN)
    assert (await add_key(site, alice, key)).status_code == 201
    key.origin, key.rp_id = origin, rp_id
    answer = await sign_in(site, key, await key_options(site))
    assert answer.status_code == 401 and answer.json()["error"] == "key_not_accepted"
    phished = SoftKey(rp_id, origin)
    refused = await add_key(site, alice, phished, "phished")
    assert refused.status_code == 400 and refused.json()["error"] == "key_not_accepted"


@pytest.mark.parametrize(
    ("length", "status"),
    [(1023, 201), (1024, 400), (3000, 400)],
    ids=["longest-allowed", "one-byte-over", "over-postgresqls-index-limit"],
)
async def test_a_credential_id_over_1023_bytes_is_refused_whichever_the_store(
    site: Site, alice: str, length: int, status: int
) -> None:
    """WebAuthn caps credential ids at 1023 bytes; a longer one is refused as a bad answer
    (3000 bytes also exceeded PostgreSQL's limit on an indexed value: a store error)."""
    key = SoftKey(RP_ID, ORIGIN)
    key.credential_id = os.urandom(length)  # random: PostgreSQL cannot compress it
    added = await add_key(site, alice, key)
    assert added.status_code == status, added.text
    listed = (await site.client.get("/api/account/security-keys", headers=auth(alice))).json()
    assert len(listed["items"]) == (1 if status == 201 else 0)
    if status == 201:
        signed_in = await sign_in(site, key, await key_options(site))
        assert signed_in.status_code == 200, signed_in.text
    else:
        assert added.json()["error"] == "key_not_accepted"


async def test_a_challenge_is_used_once_and_only_by_its_own_sign_in(site: Site, alice: str) -> None:
    key = SoftKey(RP_ID, ORIGIN)
    assert (await add_key(site, alice, key)).status_code == 201
    begun = await key_options(site)
    assert (await sign_in(site, key, begun)).status_code == 200
    again = await sign_in(site, key, begun)
    assert again.status_code == 401 and "expired or was already used" in again.json()["message"]
    other = await key_options(site)
    stolen = dict(other, ticket=begun["ticket"])  # another sign-in's challenge
    assert (await sign_in(site, key, stolen)).status_code == 401


async def test_an_expired_challenge_is_refused(site: Site, alice: str) -> None:
    key = SoftKey(RP_ID, ORIGIN)
    assert (await add_key(site, alice, key)).status_code == 201
    begun = await key_options(site)
    site.clock.now += 181
    assert (await sign_in(site, key, begun)).status_code == 401


async def test_a_signature_counter_that_goes_backwards_is_refused_and_audited(
    site: Site, alice: str
) -> None:
    key = SoftKey(RP_ID, ORIGIN)
    assert (await add_key(site, alice, key)).status_code == 201
    assert (await sign_in(site, key, await key_options(site), counter_step=5)).status_code == 200
    clone = await sign_in(site, key, await key_options(site), counter_step=-2)
    assert clone.status_code == 401
    assert "signature counter went backwards" in clone.json()["message"]
    same = await sign_in(site, key, await key_options(site), counter_step=0)
    assert same.status_code == 401
    records = [r.event for r in await site.store.list_audit()]
    cloned = [e for e in records if e.reason == "key-counter-went-back"]
    assert len(cloned) == 2 and all(e.decision == "deny" for e in cloned)
    # the soft key is at 3 now; the server saw 5: only an answer above 5 is accepted again
    assert (await sign_in(site, key, await key_options(site), counter_step=3)).status_code == 200


async def test_removing_the_last_key_needs_the_password_and_a_code_and_turns_mfa_off(
    site: Site, alice: str
) -> None:
    added = await add_key(site, alice, SoftKey(RP_ID, ORIGIN))
    key_id, codes = added.json()["id"], added.json()["recovery_codes"]
    path = f"/api/account/security-keys/{key_id}/remove"
    wrong = await site.client.post(path, json={"password": "nope nope"}, headers=auth(alice))
    assert wrong.status_code == 403 and wrong.json()["error"] == "wrong_password"
    no_code = await site.client.post(path, json={"password": PASSWORD}, headers=auth(alice))
    assert no_code.status_code == 400 and no_code.json()["error"] == "invalid_code"
    removed = await site.client.post(
        path, json={"password": PASSWORD, "code": codes[0]}, headers=auth(alice)
    )
    assert removed.status_code == 200, removed.text
    assert removed.json()["sessions_ended"] >= 1  # MFA went off: every session ended
    fresh = await site.token("alice")  # the password alone logs in again
    account = (await site.client.get("/api/account", headers=auth(fresh))).json()
    assert account["mfa"] is False
    listed = (await site.client.get("/api/account/security-keys", headers=auth(fresh))).json()
    assert listed["items"] == []


async def test_a_key_that_is_not_the_last_goes_with_the_password_alone(
    site: Site, alice: str
) -> None:
    first = (await add_key(site, alice, SoftKey(RP_ID, ORIGIN))).json()
    assert (await add_key(site, alice, SoftKey(RP_ID, ORIGIN), "spare")).status_code == 201
    removed = await site.client.post(
        f"/api/account/security-keys/{first['id']}/remove",
        json={"password": PASSWORD},
        headers=auth(alice),
    )
    assert removed.status_code == 200 and removed.json()["sessions_ended"] == 0
    listed = (await site.client.get("/api/account/security-keys", headers=auth(alice))).json()
    assert [k["name"] for k in listed["items"]] == ["spare"]


async def test_removing_both_keys_at_once_without_a_code_leaves_one_key_and_mfa_on(
    site: Site, alice: str
) -> None:
    first = (await add_key(site, alice, SoftKey(RP_ID, ORIGIN))).json()
    second = (await add_key(site, alice, SoftKey(RP_ID, ORIGIN), "spare")).json()
    both = await asyncio.gather(
        *(
            site.client.post(
                f"/api/account/security-keys/{key['id']}/remove",
                json={"password": PASSWORD},
                headers=auth(alice),
            )
            for key in (first, second)
        )
    )
    assert sorted(r.status_code for r in both) == [200, 400], [r.text for r in both]
    refused = next(r for r in both if r.status_code == 400)
    assert refused.json()["error"] == "invalid_code"
    account = (await site.client.get("/api/account", headers=auth(alice))).json()
    assert account["mfa"] is True
    listed = (await site.client.get("/api/account/security-keys", headers=auth(alice))).json()
    assert len(listed["items"]) == 1


async def test_an_app_user_adds_a_key_without_new_recovery_codes(site: Site, alice: str) -> None:
    secret, _ = await site.enable_mfa(alice)
    session = await site.token("alice", totp=pyotp.TOTP(secret).at(site.clock.next_step()))
    added = await add_key(site, session, SoftKey(RP_ID, ORIGIN))
    assert added.status_code == 201 and added.json()["recovery_codes"] is None


async def test_an_api_token_cannot_manage_keys(site: Site, alice: str) -> None:
    token = (
        await site.client.post("/api/tokens", json={"name": "ci"}, headers=auth(alice))
    ).json()["token"]
    response = await site.client.post("/api/account/security-keys/options", headers=auth(token))
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("url", "rp_id", "origin"),
    [
        ("http://localhost:8022", "localhost", "http://localhost:8022"),
        ("https://sshgate.example.com", "sshgate.example.com", "https://sshgate.example.com"),
        ("https://sshgate.example.com:443/", "sshgate.example.com", "https://sshgate.example.com"),
        (
            "https://sshgate.example.com:8443",
            "sshgate.example.com",
            "https://sshgate.example.com:8443",
        ),
    ],
)
def test_the_relying_party_is_the_host_of_the_public_url(url: str, rp_id: str, origin: str) -> None:
    party = relying_party(url)
    assert (party.id, party.origin) == (rp_id, origin)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8022", "http://[::1]:8022", "ftp://host", ""])
def test_an_ip_address_public_url_says_why_keys_are_unavailable(url: str) -> None:
    with pytest.raises(KeysUnavailable) as refused:
        relying_party(url)
    if "127" in url:
        assert "IP" in str(refused.value) and "authenticator app keeps working" in str(
            refused.value
        )
