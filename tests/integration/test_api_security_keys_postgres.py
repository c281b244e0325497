"""Security keys over the API with a PostgreSQL store: a representative subset of
tests/api/test_api_security_keys.py (adding, signing in, a challenge used once, a counter
going backwards, removing the last key and two removals at once), unchanged."""

from __future__ import annotations

from tests.api import test_api_security_keys as api
from tests.support.api_postgres import named_tests, site

alice = api.alice
globals().update(
    named_tests(
        api,
        [
            "test_a_first_key_turns_mfa_on_with_recovery_codes_shown_once",
            "test_sign_in_with_password_and_key_gets_amr_hwk",
            "test_a_credential_id_over_1023_bytes_is_refused_whichever_the_store",
            "test_a_challenge_is_used_once_and_only_by_its_own_sign_in",
            "test_an_expired_challenge_is_refused",
            "test_a_signature_counter_that_goes_backwards_is_refused_and_audited",
            "test_removing_the_last_key_needs_the_password_and_a_code_and_turns_mfa_off",
            "test_removing_both_keys_at_once_without_a_code_leaves_one_key_and_mfa_on",
        ],
    )
)
__all__ = ["alice", "site"]
