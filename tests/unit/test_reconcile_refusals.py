"""Which reconcile failures are the account itself (set aside until the idle interval, the run succeeds) and
which are passing ones (errors: the run is retried)."""

from __future__ import annotations

import pytest

from scheduled_sends.app.reconcile import ListNotFound, refused_account
from scheduled_sends.domain.errors import (
    RegionUnknown,
    SubuserNotListed,
    UpstreamKeyRejected,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from scheduled_sends.domain.ownership import PARENT_ACCOUNT

SUBUSER = "sub:no-such-subuser"


@pytest.mark.parametrize(
    "failure",
    [
        SubuserNotListed("not listed"),
        UpstreamKeyRejected("401/403 for that on-behalf-of"),
        ListNotFound("404"),
    ],
)
def test_sendgrid_refusing_a_subuser_is_the_account_itself(failure: Exception) -> None:
    assert refused_account(SUBUSER, failure)


@pytest.mark.parametrize(
    "failure",
    [
        RegionUnknown("the subuser list could not be read"),
        UpstreamUnavailable("5xx"),
        UpstreamTimeout("timeout"),
        UpstreamRateLimited("429"),
        RuntimeError("SendGrid answered 400 to the list"),
    ],
)
def test_passing_failures_stay_errors(failure: Exception) -> None:
    assert not refused_account(SUBUSER, failure)


@pytest.mark.parametrize("failure", [UpstreamKeyRejected("401"), ListNotFound("404")])
def test_the_parent_account_refused_stays_an_error(failure: Exception) -> None:
    """The parent's key rejected means nothing works: that must keep failing the run (and alarming)."""
    assert not refused_account(PARENT_ACCOUNT, failure)
