"""Wiring: the container's SendGrid, built once per container on first use (so an import costs no I/O): one
client per region's host with its region's key from the secret, the subuser directory and the regional router."""

from __future__ import annotations

from collections.abc import Callable

from ...domain import regions
from ...runtime.container import Container, singleton
from ...runtime.settings import region_settings, settings
from ..secrets import sendgrid_api_key
from .client import RetryPolicy, SendGridClient
from .router import RegionalSendGrid
from .subusers import SubuserDirectory


def _key_of(region: str) -> Callable[[bool], str]:
    """The region's key from the secret (one key for both hosts, or one per region)."""
    return lambda refresh: regions.key_for(sendgrid_api_key(refresh), region)


@singleton
def sendgrid_hosts(container: Container) -> dict[str, SendGridClient]:
    """One client per region's host, each with its own keep-alive connection pool and its region's key."""
    config, where = settings(), region_settings()
    return {
        region: SendGridClient(
            where.base_urls[region],
            _key_of(region),
            config.connect_timeout_seconds,
            config.read_timeout_seconds,
            retry=RetryPolicy(
                config.max_attempts, config.backoff_base_seconds, config.backoff_cap_seconds, config.budget_seconds
            ),
            pool_size=max(10, config.scan_concurrency),
        )
        for region in regions.REGIONS
    }


@singleton
def subuser_directory(container: Container) -> SubuserDirectory:
    """What SendGrid's subuser list says, read with the parent's key at the stack's region host and remembered
    for the container's life (refreshed every `subuser_list_refresh_seconds`)."""
    where = region_settings()
    return SubuserDirectory(sendgrid_hosts()[where.stack_region], where.subuser_list_refresh_seconds)


@singleton
def sendgrid_client(container: Container) -> RegionalSendGrid:
    """The container's SendGrid, built on first use so an import costs no I/O."""
    where = region_settings()
    return RegionalSendGrid(sendgrid_hosts(), where.stack_region, where.pins, subuser_directory())
