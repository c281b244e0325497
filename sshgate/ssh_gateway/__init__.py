"""The SSH gateway: certificate checks, per-request policy, and the relay to environments."""

from sshgate.ssh_gateway.certcheck import CHECKS, CheckInput, Verdict, check_certificate
from sshgate.ssh_gateway.gateway import Gateway
from sshgate.ssh_gateway.plan import Plan, SessionRequest, plan_session
from sshgate.ssh_gateway.upstream import UpstreamError, UpstreamIdentity, UpstreamSigner

__all__ = [
    "CHECKS",
    "CheckInput",
    "Gateway",
    "Plan",
    "SessionRequest",
    "UpstreamError",
    "UpstreamIdentity",
    "UpstreamSigner",
    "Verdict",
    "check_certificate",
    "plan_session",
]
