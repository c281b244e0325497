"""The audit log against strangers: `sshgate admin audit`'s prose cannot be forged or reach
the operator's terminal as escape sequences, and a flood of refused certificates from one
source adds a bounded number of rows and costs a bounded number of checks."""

from __future__ import annotations

import asyncio
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sshgate.cli.admin.audit import prose_line
from sshgate.logs import key_values, quote_value
from sshgate.ssh_gateway.refusals import RATE_LIMITED, RefusalAudit, RefusalBudget, source_key
from sshgate.store import AuditEvent


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("alice", "alice"),
        ("abcdefg123456-main-bvxea6i--app", "abcdefg123456-main-bvxea6i--app"),
        ("", '""'),
        ("two words", '"two words"'),
        ("a=b", '"a=b"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ("line\nforged decision=allow", '"line\\nforged decision=allow"'),
        ("cr\rlf", '"cr\\rlf"'),
        ("\x1b]52;c;cGF5bG9hZA==\x07", '"\\x1b]52;c;cGF5bG9hZA==\\x07"'),  # OSC 52
        ("\x1b[2J\x1b[H", '"\\x1b[2J\\x1b[H"'),  # CSI
        ("\x9b31m", '"\\x9b31m"'),  # C1 CSI
        ("\x85next", '"\\x85next"'),  # C1 NEL
        ("del\x7f", '"del\\x7f"'),
        ("\u202eevil", '"\\u202eevil"'),  # right-to-left override
        ("\u2028", '"\\u2028"'),  # line separator
        ("\U000e0041", '"\\U000e0041"'),  # tag character
        ("nul\x00", '"nul\\x00"'),
        ("café", '"café"'),  # printable, but not ASCII: quoted, kept readable
    ],
    ids=lambda v: repr(v)[:30],
)
def test_values_are_bare_only_when_harmless_else_quoted_and_escaped(
    value: str, written: str
) -> None:
    assert quote_value(value) == written


_ESCAPE = re.compile(r'\\(x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8}|[nrt"\\])')
_NAMED = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}


def _unquote(written: str) -> str:
    if not written.startswith('"'):
        return written
    inner = written[1:-1]

    def one(match: re.Match[str]) -> str:
        code = match.group(1)
        return _NAMED[code] if code in _NAMED else chr(int(code[1:], 16))

    return _ESCAPE.sub(one, inner)


@given(st.text())
def test_any_value_is_written_printable_on_one_line_and_reads_back_the_same(value: str) -> None:
    written = quote_value(value)
    assert all(c == " " or (c.isprintable() and c != "\x7f") for c in written)
    assert "\n" not in written and "\r" not in written
    assert _unquote(written) == value


@given(st.dictionaries(st.sampled_from(["service", "detail", "client"]), st.text(), min_size=1))
def test_no_value_can_add_a_field_to_the_line(fields: dict[str, str]) -> None:
    line = key_values(fields.items())
    # Outside quotes, only the fields' own `key=` separators appear.
    outside = re.sub(r'"(?:[^"\\]|\\.)*"', "", line)
    assert outside.count("=") == len(fields)


def test_a_refused_key_id_with_a_newline_and_an_osc_escape_stays_in_its_field() -> None:
    item = {
        "id": 7,
        "time": "2026-12-04T18:00:00Z",
        "user_id": None,
        "client": "203.0.113.9",
        "kind": "auth",
        "decision": "deny",
        "reason": "untrusted-signer",
        "detail": key_values([("unverified_key_id", "x\ntime=2026 decision=allow\x1b]0;pwn\x07")]),
    }
    line = prose_line(item)
    assert "\n" not in line and "\x1b" not in line and "\x07" not in line
    assert line.startswith("time=2026-12-04T18:00:00Z client=203.0.113.9 kind=auth")
    assert "user_id" not in line


def test_ten_thousand_refusals_a_minute_from_one_source_add_a_bounded_number_of_rows() -> None:
    budget = RefusalBudget(audited_per_window=100, window=60.0)
    rows = sum(budget.refused("203.0.113.9", t * 0.006) for t in range(10_000))
    assert rows == 100
    (summary,) = budget.ended(60.0)
    assert (summary.source, summary.count) == ("203.0.113.9", 9_900)
    assert budget.ended(61.0) == []  # summed up once
    assert budget.refused("203.0.113.9", 61.0)  # a new window has rows again


def test_a_source_whose_keys_keep_being_refused_is_not_checked_until_its_bucket_refills() -> None:
    budget = RefusalBudget(keys_per_second=20.0, burst=60.0)
    for _ in range(60):
        assert budget.may_check("198.51.100.7", 0.0)
        budget.refused("198.51.100.7", 0.0)
    assert not budget.may_check("198.51.100.7", 0.0)
    assert budget.may_check("198.51.100.8", 0.0)  # another source is not affected
    assert budget.may_check("198.51.100.7", 0.05)  # one key's worth refilled
    assert budget.may_check("192.0.2.1", 0.0)


def test_ipv6_sources_count_per_64_and_the_table_of_sources_is_bounded() -> None:
    assert source_key("2001:db8:1:2:aaaa::1") == source_key("2001:db8:1:2:bbbb::2")
    assert source_key("2001:db8:1:3::1") != source_key("2001:db8:1:2::1")
    assert source_key("::ffff:192.0.2.1") == "192.0.2.1"
    budget = RefusalBudget(max_sources=3)
    for host in range(10):
        budget.refused(f"192.0.2.{host}", 0.0)
    assert len(budget._sources) <= 4  # three sources and the shared overflow entry


async def test_refusals_past_the_budget_end_as_one_rate_limited_row_per_window() -> None:
    rows: list[AuditEvent] = []

    async def write(event: AuditEvent) -> int:
        rows.append(event)
        return len(rows)

    audit = RefusalAudit(write, RefusalBudget(audited_per_window=3, window=1.0))
    refusal = AuditEvent(time=0.0, kind="auth", decision="deny", reason="untrusted-signer")
    for _ in range(50):
        await audit.refused(refusal, "203.0.113.9")
    assert len(rows) == 3
    for _ in range(150):  # the window ends a second after the first refusal past the budget
        if len(rows) == 4:
            break
        await asyncio.sleep(0.02)
    summary = rows[3]
    assert (summary.reason, summary.client, summary.detail) == (
        RATE_LIMITED,
        "203.0.113.9",
        "refusals=47 seconds=1",
    )
    audit.close()
