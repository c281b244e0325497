"""sshgate's log lines: libraries' own lines (uvicorn's) come out in sshgate's format."""

from __future__ import annotations

import logging

import pytest

from sshgate import logs


def test_uvicorns_own_lines_go_through_the_structured_logger(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ours, theirs = logging.getLogger("sshgate"), logging.getLogger("uvicorn")
    saved = (ours.handlers[:], ours.propagate, ours.level, theirs.handlers[:], theirs.propagate)
    try:
        logs.configure("text")
        logging.getLogger("uvicorn.error").warning("Invalid HTTP request received.\nforged=1")
        err = capsys.readouterr().err
    finally:
        ours.handlers[:], ours.propagate, theirs.handlers[:], theirs.propagate = (
            saved[0], saved[1], saved[3], saved[4],
        )  # fmt: skip
        ours.setLevel(saved[2])
    assert err.count("\n") == 1, err
    assert " level=warning event=uvicorn logger=uvicorn.error " in err
    assert 'message="Invalid HTTP request received.\\nforged=1"' in err
