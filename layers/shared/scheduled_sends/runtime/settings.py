"""Settings, read once per container from the environment variables the template sets (the one source)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..domain.regions import EU, GLOBAL, RegionPins, region
from ..domain.slot_quota import DEFAULT_SLOTS_PER_TEAM
from .container import Container, singleton

EU_API_BASE_URL = "https://api.eu.sendgrid.com"  # SendGrid's host for EU regional subusers


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
    slots_per_team: int  # one principal's share of SendGrid's 10 slots per account (admins: no quota)
    due_shards: int
    warning_thresholds_seconds: tuple[int, ...]
    expiry_action_lead_seconds: int
    event_bus_name: str
    idempotency_table_name: str
    idempotency_expiry_seconds: int
    slot_reclaim: str = "auto"  # "auto": delete SendGrid's entry once it no longer matters | "notify": only say so
    scan_lease_seconds: int = 600  # a scanner run's hold on a batch; longer than a run (the scanner's timeout)
    scan_concurrency: int = 8  # concurrent SendGrid calls of one scanner run (and its connection pool)
    scan_rate_limit_reserve: float = 0.5  # share of each SendGrid rate-limit window the scanner leaves to teams
    scan_stop_before_seconds: float = 30.0  # a run takes no new work this close to its Lambda timeout
    scan_budget_seconds: float = 240.0  # a run's time when it has no Lambda context (tests, the local runner)
    reconcile_active_seconds: int = 900  # accounts with paused/cancelled rows: reconciled this often
    reconcile_idle_seconds: int = 21600  # accounts without: this often (new accounts: at once)
    stack_name: str = ""  # the stack's name (the `--stack` of the commands the on-call views print)
    service_version: str = "unknown"  # the release deployed (the template's Release mapping); in the scan log


def _required(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise RuntimeError(f"environment variable {name} is not set (the template sets it)")
    return value


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


@singleton
def settings(container: Container) -> Settings:
    """The container's settings, from its environment (Lambda: the variables the template sets)."""
    env = container.environ
    return Settings(
        sendgrid_api_base_url=_required(env, "SENDGRID_API_BASE_URL").rstrip("/"),
        sendgrid_secret_arn=_required(env, "SENDGRID_SECRET_ARN"),
        connect_timeout_seconds=float(env.get("SENDGRID_CONNECT_TIMEOUT_SECONDS", "3.05")),
        read_timeout_seconds=float(env.get("SENDGRID_READ_TIMEOUT_SECONDS", "10")),
        secret_cache_seconds=int(env.get("SECRET_CACHE_SECONDS", "300")),
        max_body_bytes=int(env.get("MAX_BODY_BYTES", "8192")),
        max_attempts=int(env.get("SENDGRID_MAX_ATTEMPTS", "4")),
        backoff_base_seconds=float(env.get("SENDGRID_BACKOFF_BASE_SECONDS", "0.2")),
        backoff_cap_seconds=float(env.get("SENDGRID_BACKOFF_CAP_SECONDS", "5")),
        budget_seconds=float(env.get("SENDGRID_BUDGET_SECONDS", "20")),
        batches_table_name=env.get("BATCHES_TABLE_NAME", ""),
        admin_principals=_csv(env.get("ADMIN_PRINCIPALS", "")),
        stack_name=env.get("STACK_NAME", ""),
        unknown_batch_policy=env.get("UNKNOWN_BATCH_POLICY", "refuse"),
        slots_per_team=int(env.get("SLOTS_PER_TEAM", str(DEFAULT_SLOTS_PER_TEAM))),
        due_shards=int(env.get("DUE_SHARDS", "8")),
        warning_thresholds_seconds=tuple(
            int(v) for v in _csv(env.get("WARNING_THRESHOLDS_SECONDS", "86400,21600,3600"))
        ),
        expiry_action_lead_seconds=int(env.get("EXPIRY_ACTION_LEAD_SECONDS", "1800")),
        event_bus_name=env.get("EVENT_BUS_NAME", ""),
        idempotency_table_name=env.get("IDEMPOTENCY_TABLE_NAME", ""),
        idempotency_expiry_seconds=int(env.get("IDEMPOTENCY_EXPIRY_SECONDS", "86400")),
        slot_reclaim=env.get("SLOT_RECLAIM", "auto"),
        scan_lease_seconds=int(env.get("SCAN_LEASE_SECONDS", "600")),
        scan_concurrency=int(env.get("SCAN_CONCURRENCY", "8")),
        scan_rate_limit_reserve=float(env.get("SCAN_RATE_LIMIT_RESERVE", "0.5")),
        scan_stop_before_seconds=float(env.get("SCAN_STOP_BEFORE_SECONDS", "30")),
        scan_budget_seconds=float(env.get("SCAN_BUDGET_SECONDS", "240")),
        reconcile_active_seconds=int(env.get("RECONCILE_ACTIVE_SECONDS", "900")),
        reconcile_idle_seconds=int(env.get("RECONCILE_IDLE_SECONDS", "21600")),
        service_version=env.get("SERVICE_VERSION", "unknown"),
    )


@singleton
def team_tokens_table_name(container: Container) -> str:
    """Only the team-token authorizer has this setting; it reads none of the SendGrid ones."""
    return _required(container.environ, "TEAM_TOKENS_TABLE_NAME")


@dataclass(frozen=True)
class RegionSettings:
    """Where SendGrid calls go: the stack's region (the parent and customer accounts), each region's host, the
    operators' pins and how long SendGrid's subuser list is trusted before it is read again."""

    stack_region: str
    base_urls: dict[str, str]  # region -> host
    pins: RegionPins
    subuser_list_refresh_seconds: int


@singleton
def region_settings(container: Container) -> RegionSettings:
    env = container.environ
    return RegionSettings(
        stack_region=region(env.get("SENDGRID_REGION", GLOBAL).strip() or GLOBAL),
        base_urls={
            GLOBAL: _required(env, "SENDGRID_API_BASE_URL").rstrip("/"),
            EU: (env.get("SENDGRID_EU_API_BASE_URL", "").strip() or EU_API_BASE_URL).rstrip("/"),
        },
        pins=RegionPins.of(eu=_csv(env.get("EU_SUBUSERS", "")), global_=_csv(env.get("GLOBAL_SUBUSERS", ""))),
        subuser_list_refresh_seconds=int(env.get("SUBUSER_REGION_REFRESH_SECONDS", "3600")),
    )
