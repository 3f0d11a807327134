"""Team tokens: their shape, hashing and the rules a token carries (pure, no I/O)."""

from __future__ import annotations

import pytest

from scheduled_sends.domain import expiry_buckets, ownership, tokens


def test_a_new_token_is_random_and_only_its_hash_is_kept() -> None:
    token, record = tokens.new_token("payments", [], now=1_800_000_000, description="checkout emails")
    other, _ = tokens.new_token("payments", [], now=1_800_000_000)
    assert token != other
    token_id, secret = tokens.parse(token)
    assert token_id == record.token_id and len(secret) == 43
    assert secret not in repr(record) and token not in repr(record)
    assert record.secret_hash == tokens.hash_secret(secret)
    assert tokens.matches(record, secret)
    assert not tokens.matches(record, secret[:-1] + ("A" if secret[-1] != "A" else "B"))
    assert record.principal == "team:payments"
    assert record.created_at == 1_800_000_000 and record.description == "checkout emails"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Bearer sst_x", "sst_x"),
        ("bearer sst_x", "sst_x"),
        ("BEARER   sst_x ", "sst_x"),
        ("Basic dXNlcjpwYXNz", None),
        ("Bearer", None),
        ("Bearer a b", None),
        ("", None),
        (None, None),
    ],
)
def test_the_bearer_token_is_read_the_way_the_sendgrid_client_sends_it(
    header: str | None, expected: str | None
) -> None:
    assert tokens.bearer_token(header) == expected


@pytest.mark.parametrize(
    "value",
    [
        "SG.not-a-team-token",
        "sst_0123456789abcdef_short",
        "sst_0123456789ABCDEF_" + "a" * 43,  # the id is lower-case hex
        "sst_0123456789abcdef_" + "a" * 44,
        "sst_0123456789abcdef_" + "a" * 42 + "/",
        "xst_0123456789abcdef_" + "a" * 43,
    ],
)
def test_anything_not_shaped_like_a_team_token_is_not_parsed(value: str) -> None:
    assert tokens.parse(value) is None


@pytest.mark.parametrize("team", ["", "-leading-dash", "has space", "x" * 65, "team\n", "ünïcode"])
def test_bad_team_names_are_refused(team: str) -> None:
    with pytest.raises(tokens.InvalidTokenRequest):
        tokens.new_token(team, [], now=0)


def test_subusers_are_checked_like_on_behalf_of_and_deduplicated() -> None:
    _, record = tokens.new_token("payments", ["acme", "globex", "acme"], now=0)
    assert record.subusers == ("acme", "globex")
    with pytest.raises(tokens.InvalidTokenRequest, match="subuser"):
        tokens.new_token("payments", ["bad\x00subuser"], now=0)


@pytest.mark.parametrize("subuser", ["acme,globex", "acme, globex", ","])
def test_a_subuser_with_a_comma_is_refused_at_issue(subuser: str) -> None:
    # A comma is how repeated headers are folded, so it can never name one subuser in on-behalf-of.
    with pytest.raises(tokens.InvalidTokenRequest, match="comma"):
        tokens.new_token("payments", [subuser], now=0)


@pytest.mark.parametrize(
    ("allowed", "on_behalf_of", "permitted"),
    [
        ((), None, True),
        ((), "anyone", True),
        (("acme",), "acme", True),
        (("acme",), "globex", False),
        (("acme",), None, False),  # a subuser-limited token never acts for the parent account
    ],
)
def test_a_token_limited_to_subusers_acts_only_for_them(
    allowed: tuple[str, ...], on_behalf_of: str | None, permitted: bool
) -> None:
    assert ownership.subuser_permitted(allowed, on_behalf_of) is permitted


@pytest.mark.parametrize(
    ("seconds_left", "bucket"),
    [
        (-1, "expired"),
        (0, "expired"),
        (1, "under-1h"),
        (3600, "under-1h"),
        (3601, "1h-6h"),
        (6 * 3600 + 1, "6h-24h"),
        (24 * 3600 + 1, "24h-72h"),
        (72 * 3600 + 1, "over-72h"),
    ],
)
def test_paused_batches_are_bucketed_by_time_left_before_expiry(seconds_left: int, bucket: str) -> None:
    assert expiry_buckets.expiry_bucket(1_000_000 + seconds_left, 1_000_000) == bucket
    assert bucket in expiry_buckets.EXPIRY_BUCKETS


def test_a_batch_without_send_at_has_an_unknown_expiry() -> None:
    assert expiry_buckets.expiry_bucket(None, 0) == "unknown"
