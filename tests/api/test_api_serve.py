"""Serving the API with uvicorn inside the caller's event loop, as `sshgate serve` does."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from pathlib import Path

import httpx
import pytest

from sshgate.api import ApiStartupError, start_api
from sshgate.datadir import initialize
from sshgate.runtime import Runtime, StartupError
from sshgate.store import SQLiteStore
from tests.api.conftest import Site, make_config


async def test_start_api_serves_on_loopback_and_stops(site: Site, tmp_path: Path) -> None:
    config = dataclasses.replace(
        site.config, api=dataclasses.replace(site.config.api, listen="127.0.0.1:0")
    )
    handle = await start_api(config, site.store)
    assert handle.server.started
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{handle.port}") as client:
            response = await client.get("/api/ssh/authority")
            assert response.status_code == 200
            assert "server" not in response.headers
    finally:
        await handle.stop()
    assert handle.task.done()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", handle.port)) != 0


async def test_start_api_reports_a_busy_port(site: Site) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = dataclasses.replace(
            site.config, api=dataclasses.replace(site.config.api, listen=f"127.0.0.1:{port}")
        )
        with pytest.raises(ApiStartupError, match=r"api\.listen"):
            await start_api(config, site.store)


async def test_start_api_refuses_a_secrets_key_readable_by_others(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    config.secrets.key_file.write_bytes(b"k" * 32)
    config.secrets.key_file.chmod(0o644)
    store = await SQLiteStore.open(str(tmp_path / "db.sqlite"))
    try:
        with pytest.raises(ApiStartupError, match="secrets key"):
            await start_api(config, store)
    finally:
        await store.close()


async def test_runtime_api_role_serves_the_api_before_ready(tmp_path: Path) -> None:
    config_path = await asyncio.to_thread(
        initialize, tmp_path / "data", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
    )
    runtime = Runtime(str(config_path), role="api")
    await runtime.start()
    try:
        assert runtime.api is not None
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{runtime.api.port}") as client:
            body = (await client.get("/api/ssh/authority")).json()
        assert len(body["trusted_ca_keys"]) == 1
    finally:
        await runtime.stop(drain=False)


async def test_runtime_refuses_to_start_the_api_without_a_secrets_key(tmp_path: Path) -> None:
    config_path = await asyncio.to_thread(
        initialize, tmp_path / "data", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
    )
    (tmp_path / "data" / "secrets.key").unlink()
    runtime = Runtime(str(config_path), role="api")
    try:
        with pytest.raises(StartupError, match="secrets key"):
            await runtime.start()
    finally:
        await runtime.stop(drain=False)
