"""Where the tool acts: a deployed stack found by name (its CloudFormation outputs; the operator's own AWS
credentials sign every request) or the local server `make run` is running (whatever its port)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import urllib3
from botocore.exceptions import ClientError

from .api import Api, Signer
from .outcome import CommandFailed, NotFoundOrForbidden
from .signing import signed_headers

DEFAULT_LOCAL_URL = "http://127.0.0.1:3000"
LOCAL_STACK_PATH = "/_local/stack"
# Where a running `python -m local` says it listens (local.server.state_path; not imported: it brings moto along).
LOCAL_STATE_FILE = ".local-server.json"


@dataclass
class Target:
    """A stack: its name, outputs and region, the API signed as the operator, and AWS clients for it."""

    name: str
    region: str
    outputs: dict[str, str]
    api: Api
    session: boto3.session.Session
    aws_endpoint_url: str | None = None  # the local stack's moto; None for AWS itself
    local_url: str | None = None  # set for the local server (its /_local/ controls)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_local(self) -> bool:
        return self.local_url is not None

    def client(self, service: str) -> Any:
        return self.session.client(service, endpoint_url=self.aws_endpoint_url)

    def resource(self, service: str) -> Any:
        return self.session.resource(service, endpoint_url=self.aws_endpoint_url)


def _bearer(token: str | None) -> Signer | None:
    if not token:
        return None

    def sign(method: str, url: str, headers: dict[str, str], body: bytes) -> dict[str, str]:
        return {**headers, "Authorization": f"Bearer {token}"}

    return sign


def deployed(name: str, session: boto3.session.Session, token: str | None = None) -> Target:
    """The stack `name` in the session's region: outputs from describe-stacks; requests signed with SigV4."""
    if not session.region_name:
        raise CommandFailed("no AWS region: pass --region or set AWS_REGION / your profile's region")
    try:
        (described,) = session.client("cloudformation").describe_stacks(StackName=name)["Stacks"]
    except ClientError as error:
        if "does not exist" in str(error):
            raise NotFoundOrForbidden(f"no stack {name} in {session.region_name}") from None
        raise CommandFailed(f"cannot read stack {name}: {error}") from None
    except Exception as error:  # no credentials, no network
        raise CommandFailed(f"cannot read stack {name}: {error}") from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    if "ApiUrl" not in outputs:
        raise CommandFailed(f"stack {name} has no ApiUrl output: is it a scheduled-sends stack?")
    region = session.region_name

    def sign(method: str, url: str, headers: dict[str, str], body: bytes) -> dict[str, str]:
        credentials = session.get_credentials()
        if credentials is None:
            raise CommandFailed("no AWS credentials to sign with (aws configure / AWS_PROFILE / aws sso login)")
        return signed_headers(credentials.get_frozen_credentials(), region, method, url, headers, body)

    api_url = outputs["ApiUrl"]  # the execute-api endpoint: works before a custom domain's DNS does
    return Target(name, region, outputs, Api(api_url, _bearer(token) or sign), session)


def _state_files(start: Path) -> list[Path]:
    """Where `make run` may have written its state file: LOCAL_SERVER_STATE, else this folder or a parent's."""
    if os.environ.get("LOCAL_SERVER_STATE"):
        return [Path(os.environ["LOCAL_SERVER_STATE"])]
    return [folder / LOCAL_STATE_FILE for folder in (start, *start.parents)]


def local_url(given: str | None, start: Path | None = None) -> tuple[str, str]:
    """The local server's URL and where it came from: the one given, the one a running `make run` wrote to
    .local-server.json (in the checkout the tool runs in), the port in PORT, or port 3000."""
    if given:
        return given, "--local"
    for state in _state_files((start or Path.cwd()).resolve()):
        try:
            return json.loads(state.read_text(encoding="utf-8"))["url"], str(state)
        except (OSError, ValueError, KeyError, TypeError):
            continue
    if os.environ.get("PORT"):
        return f"http://127.0.0.1:{os.environ['PORT']}", "PORT"
    return DEFAULT_LOCAL_URL, "the default port"


def _unsigned(method: str, url: str, headers: dict[str, str], body: bytes) -> dict[str, str]:
    return headers  # the local server acts as its caller (LOCAL_CALLER_ARN, default the local developer)


def local(given: str | None, token: str | None = None, pool: urllib3.PoolManager | None = None) -> Target:
    """The local server: its /_local/stack answer stands in for describe-stacks."""
    url, source = local_url(given)
    pool = pool or urllib3.PoolManager(retries=False, timeout=5)
    try:
        answer = pool.request("GET", url.rstrip("/") + LOCAL_STACK_PATH)
        if answer.status != 200:
            raise urllib3.exceptions.HTTPError(f"{LOCAL_STACK_PATH} answered {answer.status}")
        stack = json.loads(answer.data)
    except (urllib3.exceptions.HTTPError, ValueError) as error:
        raise CommandFailed(
            f"no local server at {url} (from {source}: {error}); start it with `make run`, or name it: "
            "--local http://127.0.0.1:<port>"
        ) from None
    session = boto3.session.Session(
        region_name=stack["Region"],
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - moto's placeholder, not a secret
    )
    return Target(
        name=stack["StackName"],
        region=stack["Region"],
        outputs=dict(stack["Outputs"]),
        api=Api(url, _bearer(token) or _unsigned),
        session=session,
        aws_endpoint_url=stack["AwsEndpointUrl"],
        local_url=url.rstrip("/"),
        extra={"parameters": stack.get("Parameters", {})},
    )
