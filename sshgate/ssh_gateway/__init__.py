"""The SSH gateway: certificate checks, per-request policy, and the relay to environments.

The pure parts (`check_certificate`, `plan_session`) load eagerly; the server and the
upstream side (asyncssh, the store's drivers, prometheus_client) load on first use, so that
importing `sshgate.ssh_gateway.certcheck` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sshgate import _lazy
from sshgate.ssh_gateway.certcheck import CHECKS, CheckInput, Verdict, check_certificate
from sshgate.ssh_gateway.plan import Plan, SessionRequest, plan_session

if TYPE_CHECKING:
    from sshgate.ssh_gateway.gateway import Gateway
    from sshgate.ssh_gateway.shared_admission import (
        AdmissionTable,
        AdmissionTableError,
        SharedAdmission,
        capacity_for,
    )
    from sshgate.ssh_gateway.upstream import UpstreamError, UpstreamIdentity, UpstreamSigner

_LAZY = {
    "AdmissionTable": "shared_admission",
    "AdmissionTableError": "shared_admission",
    "SharedAdmission": "shared_admission",
    "capacity_for": "shared_admission",
    "Gateway": "gateway",
    "UpstreamError": "upstream",
    "UpstreamIdentity": "upstream",
    "UpstreamSigner": "upstream",
}


def __getattr__(name: str) -> object:
    return _lazy.load(__name__, name, _LAZY)


__all__ = [
    "CHECKS",
    "AdmissionTable",
    "AdmissionTableError",
    "CheckInput",
    "Gateway",
    "Plan",
    "SessionRequest",
    "SharedAdmission",
    "UpstreamError",
    "UpstreamIdentity",
    "UpstreamSigner",
    "Verdict",
    "capacity_for",
    "check_certificate",
    "plan_session",
]
