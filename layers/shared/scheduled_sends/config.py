"""Settings, read once per container from the environment variables the template sets."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache


@dataclass(frozen=True)
class Settings:
    sendgrid_api_base_url: str
    sendgrid_secret_arn: str
    connect_timeout_seconds: float
    read_timeout_seconds: float
    secret_cache_seconds: int
    max_body_bytes: int


def _required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise RuntimeError(f"environment variable {name} is not set (the template sets it)")
    return value


@cache
def settings() -> Settings:
    return Settings(
        sendgrid_api_base_url=_required("SENDGRID_API_BASE_URL").rstrip("/"),
        sendgrid_secret_arn=_required("SENDGRID_SECRET_ARN"),
        connect_timeout_seconds=float(os.environ.get("SENDGRID_CONNECT_TIMEOUT_SECONDS", "3.05")),
        read_timeout_seconds=float(os.environ.get("SENDGRID_READ_TIMEOUT_SECONDS", "10")),
        secret_cache_seconds=int(os.environ.get("SECRET_CACHE_SECONDS", "300")),
        max_body_bytes=int(os.environ.get("MAX_BODY_BYTES", "8192")),
    )
