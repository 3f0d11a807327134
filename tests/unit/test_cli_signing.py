"""Every request to a deployed stack is signed with the operator's credentials by botocore's SigV4 signer, for
`execute-api` in the stack's region. The signature is checked here by an independent recomputation written from
AWS's published algorithm (canonical request, string to sign, the HMAC key chain), not by botocore itself."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
from botocore.credentials import Credentials

from scheduled_sends_cli.signing import signed_headers

ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
URL = "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/v3/ops/batches?status=pause&expires_within=3600"


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def expected_signature(secret: str, method: str, url: str, headers: dict[str, str], body: bytes) -> str:
    """SigV4 from its specification: what AWS recomputes to accept the request."""
    authorization = headers["Authorization"]
    scope = authorization.split("Credential=")[1].split(",")[0].split("/", 1)[1]
    signed = authorization.split("SignedHeaders=")[1].split(",")[0].split(";")
    date, region, service, _ = scope.split("/")
    parts = urlsplit(url)
    query = "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
        for k, v in sorted(parse_qsl(parts.query, keep_blank_values=True))
    )
    lowered = {k.lower(): " ".join(v.split()) for k, v in headers.items()}
    lowered.setdefault("host", parts.netloc)
    canonical = "\n".join(
        [
            method,
            quote(parts.path, safe="/-_.~"),
            query,
            "".join(f"{name}:{lowered[name]}\n" for name in signed),
            ";".join(signed),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", headers["X-Amz-Date"], scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{secret}".encode(), date), region), service), "aws4_request")
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    ("method", "body", "extra"),
    [
        ("GET", b"", {}),
        ("PATCH", b'{"status": "cancel"}', {"Content-Type": "application/json", "on-behalf-of": "account-id 42"}),
        ("DELETE", b"", {"on-behalf-of": "acme"}),
    ],
)
def test_requests_carry_a_sigv4_signature_for_execute_api_that_aws_would_recompute(
    method: str, body: bytes, extra: dict[str, str]
) -> None:
    headers = signed_headers(
        Credentials(ACCESS_KEY, SECRET_KEY), "eu-west-1", method, URL, {"Accept": "application/json", **extra}, body
    )
    authorization = headers["Authorization"]
    assert authorization.startswith(f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/")
    assert "/eu-west-1/execute-api/aws4_request" in authorization
    signature = authorization.split("Signature=")[1]
    assert signature == expected_signature(SECRET_KEY, method, URL, headers, body)
    for name in extra:  # on-behalf-of and the content type are covered by the signature
        assert name.lower() in authorization.split("SignedHeaders=")[1].split(",")[0].split(";")
    # A changed body, secret or header no longer matches.
    assert signature != expected_signature(SECRET_KEY, method, URL, headers, body + b" ")
    assert signature != expected_signature("another-secret", method, URL, headers, body)
    if extra.get("on-behalf-of"):
        assert signature != expected_signature(SECRET_KEY, method, URL, {**headers, "on-behalf-of": "other"}, body)


def test_temporary_credentials_send_their_session_token() -> None:
    headers = signed_headers(Credentials(ACCESS_KEY, SECRET_KEY, "session-token-xyz"), "us-east-1", "GET", URL, {}, b"")
    assert headers["X-Amz-Security-Token"] == "session-token-xyz"
    assert "x-amz-security-token" in headers["Authorization"]
    assert headers["Authorization"].split("Signature=")[1] == expected_signature(SECRET_KEY, "GET", URL, headers, b"")
