"""`sshgate login --web` and `sshgate login --device` over the API with a PostgreSQL store:
a representative subset of tests/api/test_cli_signin.py and test_cli_device.py (a grant
taken once, the wrong verifier, approve, deny, expiry, slow_down, the approving session
ended), unchanged."""

from __future__ import annotations

from tests.api import test_cli_device as device
from tests.api import test_cli_signin as web
from tests.support.api_postgres import named_tests, site

alice = web.alice
assert device.alice.__doc__ == web.alice.__doc__  # the same signed-in browser
globals().update(
    named_tests(
        web,
        [
            "test_allowing_gives_a_code_that_opens_a_session_with_the_sign_in_amr",
            "test_a_code_works_once",
            "test_a_code_with_the_wrong_verifier_is_refused_and_spent",
            "test_a_code_is_refused_once_the_session_that_allowed_it_ended",
            "test_the_cli_session_ends_no_later_than_the_session_that_allowed_it",
        ],
    )
)
globals().update(
    named_tests(
        device,
        [
            "test_approved_in_the_browser_the_cli_gets_a_session_once",
            "test_denied_in_the_browser_the_cli_gets_access_denied",
            "test_an_expired_device_code_answers_expired_token",
            "test_polling_faster_than_the_interval_answers_slow_down",
            "test_an_approval_is_refused_once_the_session_that_approved_it_ended",
        ],
    )
)
__all__ = ["alice", "site"]
