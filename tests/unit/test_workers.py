"""Gateway worker processes, the pure parts: how many processes, the restart backoff, the
worker's place on its command line, and the `gateway.workers` key."""

from __future__ import annotations

from pathlib import Path

import pytest

from sshgate.config import ConfigError, load_config
from sshgate.workers import (
    RESTART_DELAY_MAX,
    STABLE_SECONDS,
    WorkerSlot,
    crashes_in_a_row,
    listen_address,
    restart_delay,
    worker_command,
    worker_count,
)


@pytest.mark.parametrize(
    ("configured", "cores", "expected"),
    [
        (1, 8, 1),
        (4, 2, 4),  # what is configured, even beyond the cores
        (0, 8, 8),  # 0: one per usable core
        (0, 1, 1),
        (0, 0, 1),  # never none
    ],
    ids=["default", "explicit", "per-core", "one-core", "no-cores-reported"],
)
def test_worker_count(configured: int, cores: int, expected: int) -> None:
    assert worker_count(configured, cores) == expected


@pytest.mark.parametrize(
    ("crashes", "delay"),
    [(1, 0.5), (2, 1.0), (3, 2.0), (6, 16.0), (7, RESTART_DELAY_MAX), (1000, RESTART_DELAY_MAX)],
    ids=["first", "second", "third", "sixth", "capped", "crash-loop"],
)
def test_restart_delay_doubles_up_to_a_cap(crashes: int, delay: float) -> None:
    assert restart_delay(crashes) == delay


@pytest.mark.parametrize(
    ("previous", "uptime", "expected"),
    [
        (0, 0.3, 1),
        (3, 0.3, 4),  # still failing at once
        (3, STABLE_SECONDS - 1, 4),
        (5, STABLE_SECONDS, 1),  # it ran long enough: a fresh start
    ],
    ids=["first-failure", "crash-loop", "almost-stable", "stable"],
)
def test_crashes_in_a_row(previous: int, uptime: float, expected: int) -> None:
    assert crashes_in_a_row(previous, uptime) == expected


@pytest.mark.parametrize(
    ("text", "slot"),
    [("1/2", WorkerSlot(1, 2)), ("3/4", WorkerSlot(3, 4))],
    ids=["first", "last"],
)
def test_worker_slot_round_trips(text: str, slot: WorkerSlot) -> None:
    assert WorkerSlot.parse(text) == slot
    assert str(slot) == text


@pytest.mark.parametrize(
    "text",
    ["", "1", "0/2", "2/2", "3/2", "-1/2", "a/b", "1/2/3", " 1/2"],
    ids=["empty", "no-count", "main", "equal", "beyond", "negative", "words", "three", "space"],
)
def test_worker_slot_refuses_what_is_not_a_worker(text: str) -> None:
    with pytest.raises(ValueError):
        WorkerSlot.parse(text)


def test_a_worker_is_a_fresh_interpreter_serving_the_gateway_role(tmp_path: Path) -> None:
    command = worker_command(WorkerSlot(1, 3), str(tmp_path / "config.toml"))
    assert command[1:3] == ["-m", "sshgate.cli.main"]
    assert command[3:] == [
        "serve", "--role", "gateway", "--worker", "1/3", "--config", str(tmp_path / "config.toml"),
    ]  # fmt: skip
    assert "--config" not in worker_command(WorkerSlot(1, 3), None)


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [("127.0.0.1", 2222, "127.0.0.1:2222"), ("::1", 22, "[::1]:22"), ("0.0.0.0", 22, "0.0.0.0:22")],
    ids=["ipv4", "ipv6", "any"],
)
def test_listen_address(host: str, port: int, expected: str) -> None:
    assert listen_address(host, port) == expected


@pytest.mark.parametrize(
    ("env", "expected"),
    [({}, 1), ({"SSHGATE_GATEWAY_WORKERS": "0"}, 0), ({"SSHGATE_GATEWAY_WORKERS": "4"}, 4)],
    ids=["default", "per-core", "override"],
)
def test_gateway_workers_key(tmp_path: Path, env: dict[str, str], expected: int) -> None:
    config = tmp_path / "config.toml"
    config.write_text("")
    assert load_config(config, env).gateway.workers == expected


@pytest.mark.parametrize("value", ["-1", "257", "two"], ids=["negative", "too-many", "word"])
def test_gateway_workers_refuses_nonsense(tmp_path: Path, value: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text("")
    with pytest.raises(ConfigError, match=r"gateway\.workers"):
        load_config(config, {"SSHGATE_GATEWAY_WORKERS": value})
