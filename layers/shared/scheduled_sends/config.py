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
    max_attempts: int
    backoff_base_seconds: float
    backoff_cap_seconds: float
    budget_seconds: float
    batches_table_name: str
    admin_principals: tuple[str, ...]
    unknown_batch_policy: str  # "refuse" | "claim"
    due_shards: int
    warning_thresholds_seconds: tuple[int, ...]
    expiry_action_lead_seconds: int
    event_bus_name: str
    idempotency_table_name: str
    idempotency_expiry_seconds: int


def _required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise RuntimeError(f"environment variable {name} is not set (the template sets it)")
    return value


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


@cache
def settings() -> Settings:
    return Settings(
        sendgrid_api_base_url=_required("SENDGRID_API_BASE_URL").rstrip("/"),
        sendgrid_secret_arn=_required("SENDGRID_SECRET_ARN"),
        connect_timeout_seconds=float(os.environ.get("SENDGRID_CONNECT_TIMEOUT_SECONDS", "3.05")),
        read_timeout_seconds=float(os.environ.get("SENDGRID_READ_TIMEOUT_SECONDS", "10")),
        secret_cache_seconds=int(os.environ.get("SECRET_CACHE_SECONDS", "300")),
        max_body_bytes=int(os.environ.get("MAX_BODY_BYTES", "8192")),
        max_attempts=int(os.environ.get("SENDGRID_MAX_ATTEMPTS", "4")),
        backoff_base_seconds=float(os.environ.get("SENDGRID_BACKOFF_BASE_SECONDS", "0.2")),
        backoff_cap_seconds=float(os.environ.get("SENDGRID_BACKOFF_CAP_SECONDS", "5")),
        budget_seconds=float(os.environ.get("SENDGRID_BUDGET_SECONDS", "20")),
        batches_table_name=os.environ.get("BATCHES_TABLE_NAME", ""),
        admin_principals=_csv(os.environ.get("ADMIN_PRINCIPALS", "")),
        unknown_batch_policy=os.environ.get("UNKNOWN_BATCH_POLICY", "refuse"),
        due_shards=int(os.environ.get("DUE_SHARDS", "8")),
        warning_thresholds_seconds=tuple(
            int(v) for v in _csv(os.environ.get("WARNING_THRESHOLDS_SECONDS", "86400,21600,3600"))
        ),
        expiry_action_lead_seconds=int(os.environ.get("EXPIRY_ACTION_LEAD_SECONDS", "1800")),
        event_bus_name=os.environ.get("EVENT_BUS_NAME", ""),
        idempotency_table_name=os.environ.get("IDEMPOTENCY_TABLE_NAME", ""),
        idempotency_expiry_seconds=int(os.environ.get("IDEMPOTENCY_EXPIRY_SECONDS", "86400")),
    )


@cache
def team_tokens_table_name() -> str:
    """Only the team-token authorizer has this setting (and none of the SendGrid ones)."""
    return _required("TEAM_TOKENS_TABLE_NAME")
