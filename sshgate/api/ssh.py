"""SSH: POST /api/ssh/certificate (issue a user certificate) and GET /api/ssh/authority (what
a client needs to trust: the CA keys that gateways accept, and the gateway's host keys)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request

from sshgate import metrics
from sshgate.api.context import CertificatePrincipal, Context, client_address
from sshgate.api.errors import ApiError
from sshgate.api.schemas import (
    AuthorityResponse,
    CertificateRequest,
    CertificateResponse,
    ErrorResponse,
    GatewayInfo,
    iso,
)
from sshgate.ca import fingerprint, read_key_lines, trusted_fingerprints
from sshgate.config import Config
from sshgate.logs import log
from sshgate.store import GatewayHostKey

router = APIRouter(prefix="/api/ssh", tags=["ssh"])


@router.post(
    "/certificate",
    response_model=CertificateResponse,
    responses={
        400: {"model": ErrorResponse, "description": "Key or ttl refused"},
        503: {"model": ErrorResponse, "description": "This server does not run the CA"},
    },
)
async def certificate(
    body: CertificateRequest, principal: CertificatePrincipal, request: Request, context: Context
) -> CertificateResponse:
    """Sign `key` for the caller. The certificate's claims carry the bearer's `amr` as it
    counts now, its `auth_time`, and `jti` = the login session or API token id; it ends no
    later than that session or token (and is revoked when the session ends by logout)."""
    if context.ca is None:
        raise ApiError(503, "no_ca", "this server does not issue certificates")
    issued = await context.ca.issue(
        principal.user,
        body.key,
        principal.amr,
        principal.auth_time,
        principal.jti,
        ttl=body.ttl,
        client_address=client_address(request) or None,
        ends_at=principal.expires_at,
    )
    metrics.certificate_issued()
    log(
        "certificate_issued",
        user_id=principal.user.id,
        serial=issued.serial,
        amr=",".join(principal.amr),
        jti=principal.jti,
    )
    return CertificateResponse(
        certificate=issued.certificate,
        serial=issued.serial,
        valid_after=iso(issued.valid_after) or "",
        valid_before=iso(issued.valid_before) or "",
        amr=list(principal.amr),
    )


@router.get("/authority", response_model=AuthorityResponse)
async def authority(context: Context) -> AuthorityResponse:
    """Public keys only, so no login is needed (a client fetches it to pin the gateway).
    Host and port are those the most recently started gateway recorded; without any, the
    configured `gateway.public_host`/`public_port`."""
    config = context.config
    records = await context.store.list_ca_keys()
    extra = read_key_lines(list(config.ca.trusted_public_keys))
    distrusted = await context.store.list_distrusted_ca_keys()
    trusted = trusted_fingerprints(
        records, extra, time.time(), config.ca.max_certificate_ttl, distrusted
    )
    lines: list[str] = []
    keyed = [(r.fingerprint, r.public_key) for r in records]
    for fp, line in keyed + [(fingerprint(line), line) for line in extra]:
        if fp in trusted and line not in lines:
            lines.append(line)
    gateway = gateway_info(await context.store.list_gateway_host_keys(), config)
    return AuthorityResponse(trusted_ca_keys=lines, gateway=gateway)


def gateway_info(keys: list[GatewayHostKey], config: Config) -> GatewayInfo:
    """The newest recorded host and port, with every host key recorded for them."""
    if not keys:
        return GatewayInfo(
            host=config.gateway_public_host, port=config.gateway_public_port, host_keys=[]
        )
    newest = max(keys, key=lambda k: k.recorded_at)
    same = [
        k.public_key
        for k in sorted(keys, key=lambda k: k.recorded_at)
        if (k.public_host, k.public_port) == (newest.public_host, newest.public_port)
    ]
    return GatewayInfo(host=newest.public_host, port=newest.public_port, host_keys=same)
