"""The dependency declaration excludes the asyncssh releases without the Terrapin fix
(CVE-2023-48795, strict key exchange; fixed in 2.14.2), and what is installed is inside it.
The installed version alone is tests/unit/test_auth_adapter.py::
test_asyncssh_version_is_in_the_pinned_safe_range; that the gateway negotiates strict key
exchange with the stock client is tests/e2e/test_abuse.py::
test_the_gateway_negotiates_strict_key_exchange_with_the_stock_client."""

from __future__ import annotations

import tomllib
from importlib.metadata import version
from pathlib import Path

from packaging.requirements import Requirement

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
TERRAPIN_FIXED = "2.14.2"


def _requirement(name: str) -> Requirement:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    for line in project["dependencies"]:
        requirement = Requirement(line)
        if requirement.name == name:
            return requirement
    raise AssertionError(f"{name} is not a dependency")


def test_the_asyncssh_requirement_excludes_every_release_before_the_terrapin_fix() -> None:
    spec = _requirement("asyncssh").specifier
    assert TERRAPIN_FIXED in spec
    for vulnerable in ("2.14.1", "2.14.0", "2.13.2", "2.0.0", "1.18.0"):
        assert vulnerable not in spec, vulnerable
    assert version("asyncssh") in spec
