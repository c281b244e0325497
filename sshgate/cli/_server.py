"""What the server-side commands share: the configuration and the store it names."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

import click

from sshgate.cli._output import Refusal
from sshgate.config import Config, ConfigError, load_config
from sshgate.services import ServiceError
from sshgate.store import Store, StoreError, open_store

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def config_option(func: F) -> F:
    return click.option(
        "--config",
        "config_path",
        envvar="SSHGATE_CONFIG",
        type=click.Path(dir_okay=False),
        help="Configuration file (default: $SSHGATE_CONFIG).",
    )(func)


def load(config_path: str | None) -> Config:
    try:
        return load_config(config_path)
    except ConfigError as exc:
        raise Refusal(str(exc)) from None


@contextlib.asynccontextmanager
async def configured_store(config: Config) -> AsyncIterator[Store]:
    try:
        store = await open_store(config.storage.url, str(config.base_dir))
    except (StoreError, ValueError) as exc:
        raise Refusal(f"cannot open the store: {exc}") from None
    try:
        yield store
    finally:
        await store.close()


@contextlib.contextmanager
def refused_input() -> Iterator[None]:
    """A service's check of the input, before the configuration and the store are touched:
    its refusal is one line and exit status 1."""
    try:
        yield
    except ServiceError as exc:
        raise Refusal(str(exc)) from None


def run(config_path: str | None, action: Callable[[Config, Store], Awaitable[T]]) -> T:
    """Load the configuration, open the store, run `action`, close the store."""
    config = load(config_path)

    async def body() -> T:
        async with configured_store(config) as store:
            try:
                return await action(config, store)
            except (StoreError, ServiceError) as exc:
                raise Refusal(str(exc)) from None

    return asyncio.run(body())
