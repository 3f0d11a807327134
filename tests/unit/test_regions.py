"""Which SendGrid region serves an account, and which key each region takes (domain.regions, pure)."""

from __future__ import annotations

import json

import pytest

from scheduled_sends.domain.errors import KeyUnavailable, RegionUnknown
from scheduled_sends.domain.regions import RegionPins, decide, key_for, listed_regions, region
from tests.support import CANARY_KEY

NO_PINS = RegionPins()


@pytest.mark.parametrize("stack_region", ["global", "eu"])
def test_the_parent_and_customer_accounts_follow_the_stacks_region(stack_region: str) -> None:
    assert decide(None, stack_region, NO_PINS).region == stack_region
    assert decide("account-id 4242", stack_region, NO_PINS).region == stack_region
    assert decide("account-id 4242", stack_region, NO_PINS).basis == "customer account"


def test_a_subuser_needs_sendgrids_list_unless_pinned() -> None:
    decision = decide("acme", "global", NO_PINS)
    assert decision.needs_listing and decision.region is None


def test_pins_win_over_everything_customer_accounts_included() -> None:
    pins = RegionPins.of(eu=["eurocorp", "account-id 7"], global_=["acme"])
    assert decide("eurocorp", "global", pins).region == "eu"
    assert decide("acme", "eu", pins).region == "global"
    assert decide("account-id 7", "global", pins).region == "eu"
    assert decide("account-id 8", "global", pins).region == "global"
    assert decide(None, "global", pins).region == "global"  # the parent is never pinned


def test_a_star_pin_covers_every_subuser_not_pinned_by_name_but_not_customer_accounts() -> None:
    pins = RegionPins.of(eu=["eurocorp"], global_=["*"])
    assert decide("anyone", "global", pins).region == "global"
    assert decide("anyone", "global", pins).basis == "every subuser pinned"
    assert decide("eurocorp", "global", pins).region == "eu"
    assert decide("account-id 1", "eu", pins).region == "eu"  # the stack's region, not the star


@pytest.mark.parametrize(("eu", "global_", "name"), [(["x"], ["x"], "x"), (["*"], ["*"], "anyone")])
def test_an_account_pinned_to_both_regions_is_refused_not_guessed(eu: list, global_: list, name: str) -> None:
    with pytest.raises(RegionUnknown) as refused:
        decide(name, "global", RegionPins.of(eu=eu, global_=global_))
    assert refused.value.status == 503
    assert "pinned to both" in refused.value.message
    assert refused.value.headers["Retry-After"]


def test_the_stack_region_is_global_or_eu() -> None:
    assert region("eu") == "eu"
    with pytest.raises(ValueError, match="global, eu"):
        region("us")


def test_listed_regions_keeps_only_entries_with_a_known_region() -> None:
    page = [
        {"username": "acme", "region": "global", "id": 1, "email": "a@example.com", "disabled": False},
        {"username": "eurocorp", "region": "eu", "id": 2, "email": "e@example.com", "disabled": False},
        {"username": "no-region", "id": 3, "email": "n@example.com", "disabled": False},
        {"username": "mars", "region": "mars", "id": 4, "email": "m@example.com", "disabled": False},
        {"region": "eu"},
    ]
    assert listed_regions(page) == {"acme": "global", "eurocorp": "eu"}
    assert listed_regions([]) == {}
    for broken in ({"username": "acme"}, ["acme"], None):
        with pytest.raises(ValueError, match="subuser list"):
            listed_regions(broken)


def test_one_key_serves_both_hosts() -> None:
    assert key_for(f"  {CANARY_KEY}\n", "global") == CANARY_KEY
    assert key_for(CANARY_KEY, "eu") == CANARY_KEY


def test_a_json_secret_holds_a_key_per_region() -> None:
    secret = json.dumps({"global": "SG.global-key", "eu": "SG.eu-key"})
    assert key_for(secret, "global") == "SG.global-key"
    assert key_for(secret, "eu") == "SG.eu-key"


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        (json.dumps({"global": CANARY_KEY}), "no key for the eu region"),
        (json.dumps({"global": CANARY_KEY, "eu": ""}), "no key for the eu region"),
        (json.dumps({"global": CANARY_KEY, "EU": CANARY_KEY}), '{"global": ..., "eu": ...}'),
        ('{"eu": "' + CANARY_KEY, "not"),
        (CANARY_KEY[:12] + "\n" + CANARY_KEY[12:], "not a valid key"),  # a line break pasted into the secret
        (json.dumps({"eu": CANARY_KEY + " x"}), "not a valid key"),
        (json.dumps({"eu": CANARY_KEY + "é"}), "not a valid key"),
    ],
    ids=["no-eu-key", "empty-eu-key", "unknown-region-name", "broken-json", "line-break", "space", "non-ascii"],
)
def test_a_secret_without_the_regions_key_is_the_operators_500_and_never_shows_a_key(secret: str, message: str) -> None:
    with pytest.raises(KeyUnavailable) as refused:
        key_for(secret, "eu")
    assert message in refused.value.message
    assert CANARY_KEY not in refused.value.message
    # a broken JSON's parse error (which holds the whole text) is never chained into a traceback
    assert refused.value.__cause__ is None
    assert refused.value.__context__ is None or refused.value.__suppress_context__
