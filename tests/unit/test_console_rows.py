"""The Security page's member rows are built in Python (the page's one hot loop): every
value is escaped, and each row carries what the forms and the Name checkbox rely on."""

from __future__ import annotations

import pytest

from sshgate.console.orgs import member_rows
from sshgate.policy import OrgRole
from sshgate.store import MemberSecurity


@pytest.mark.parametrize(
    ("username", "email"),
    [
        pytest.param("bob", '"><script>alert(1)</script>', id="email-breaks-out"),
        pytest.param('a"b<i>', "a@example.com", id="name-breaks-attribute"),
        pytest.param("x&y", "o'neil@example.com", id="ampersand-and-quote"),
    ],
)
def test_every_value_in_a_row_is_escaped(username: str, email: str) -> None:
    html = str(
        member_rows([MemberSecurity("id", username, email, OrgRole.MEMBER, False, None, None)])
    )
    assert "<script" not in html and "<i>" not in html
    for raw in (username, email):
        if any(c in raw for c in "<>\"&'"):
            assert raw not in html


def test_a_row_names_the_member_and_says_whether_they_have_mfa() -> None:
    rows = member_rows(
        [
            MemberSecurity(
                "1",
                "dave",
                "dave@example.com",
                OrgRole.ADMIN,
                True,
                0.0,
                3600.0,
                ("totp", "webauthn"),
            ),
            MemberSecurity("2", "bob", "bob@example.com", OrgRole.MEMBER, False, None, None),
        ]
    )
    html = str(rows)
    assert 'name="user" value="dave" data-mfa="on"' in html
    assert 'name="user" value="bob" data-mfa="off"' in html
    assert 'name="only" value="bob"' in html and 'aria-label="Remind bob"' in html
    assert "<td>1970-01-01T00:00:00Z</td><td>1970-01-01T01:00:00Z</td>" in html
    assert "<td>Authenticator app, Security key or passkey</td>" in html
    assert html.count("<tr ") == 2
