"""`sshgate token create --expires DURATION`: the durations it takes, as seconds."""

from __future__ import annotations

import click
import pytest

from sshgate.cli.tokens import parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90d", 90 * 86400),
        ("12h", 43200),
        ("30m", 1800),
        ("2w", 14 * 86400),
        ("45s", 45),
        ("3600", 3600),
        (" 7d ", 7 * 86400),
    ],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0d", "-1d", "1y", "d", "1.5h", "10 d", "01d"])
def test_what_is_not_a_duration_is_a_usage_error(text: str) -> None:
    with pytest.raises(click.BadParameter):
        parse_duration(text)
