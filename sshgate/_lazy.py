"""Names a package exports without importing their module until first use (PEP 562).

A package `__init__` that would otherwise load a heavy dependency (a database driver,
prometheus_client, asyncssh, httpx) names those exports here, so that importing one light
module of the package (`sshgate.ssh_gateway.certcheck`, `sshgate.store.base`) stays light.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping


def load(package: str, name: str, modules: Mapping[str, str]) -> object:
    """The export `name` of `package`, imported from its module in `modules` (by name,
    relative to `package`); AttributeError for a name the package does not export."""
    module = modules.get(name)
    if module is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{package}.{module}"), name)
