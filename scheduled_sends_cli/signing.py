"""SigV4 for API Gateway (`execute-api`) through botocore's own signer: the request carries the operator's
identity, so the service's audit events name the human who acted."""

from __future__ import annotations

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, ReadOnlyCredentials

SERVICE = "execute-api"


def signed_headers(
    credentials: Credentials | ReadOnlyCredentials,
    region: str,
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes,
) -> dict[str, str]:
    """`headers` plus Authorization, X-Amz-Date (and X-Amz-Security-Token for temporary credentials)."""
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
    SigV4Auth(credentials, SERVICE, region).add_auth(request)
    return dict(request.headers.items())
