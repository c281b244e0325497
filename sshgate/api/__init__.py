"""The HTTP API (FastAPI): accounts, MFA, certificates, API tokens and the caller's access.

`create_app` builds the app; `start_api` serves it inside `sshgate serve`'s event loop;
`require_mfa_for_org` is the guard for an organization's resources.
"""

from sshgate.api.app import create_app
from sshgate.api.errors import MFA_REQUIRED_MESSAGE, ApiError, require_mfa_for_org
from sshgate.api.serve import ApiHandle, ApiStartupError, build_authority, start_api

__all__ = [
    "MFA_REQUIRED_MESSAGE",
    "ApiError",
    "ApiHandle",
    "ApiStartupError",
    "build_authority",
    "create_app",
    "require_mfa_for_org",
    "start_api",
]
