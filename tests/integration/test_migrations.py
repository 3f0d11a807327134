"""`python -m migrations` against moto: registry entries written before 1.0.0 (no reconcile time) are given one,
due at once, so the scanner reads them without waiting for a function to act for the account again."""

from __future__ import annotations

import boto3
import pytest

from migrations import __main__ as migrations
from scheduled_sends.adapters.accounts import ACCOUNTS_PARTITION, RECONCILE_SHARD, AccountRegistry

NOW = 1_800_000_000


def _table():
    return boto3.resource("dynamodb").Table("batches")  # the aws fixture's batches table (the template's)


def _old_entry(account: str) -> None:
    """What releases before 1.0.0 wrote on first use of an account: registration only."""
    _table().put_item(Item={"account": ACCOUNTS_PARTITION, "batch_id": account, "registered_at": NOW - 86400})


@pytest.mark.usefixtures("aws")
def test_entries_from_earlier_releases_become_due_now_and_nothing_else_changes() -> None:
    table = _table()
    for account in ("parent", "sub:acme", "account-id 7"):
        _old_entry(account)
    table.put_item(  # a reconcile time without its index shard: outside the due index all the same
        Item={"account": ACCOUNTS_PARTITION, "batch_id": "sub:half", "registered_at": NOW - 86400, "due_at": NOW - 60}
    )
    registry = AccountRegistry(table)
    registry.remember("sub:current")  # written by this release: due already
    table.update_item(
        Key={"account": ACCOUNTS_PARTITION, "batch_id": "sub:current"},
        UpdateExpression="SET due_at = :later",
        ExpressionAttributeValues={":later": NOW + 900},
    )
    table.put_item(Item={"account": "sub:acme", "batch_id": "batch-1", "status": "pause"})  # a batch row
    before_batch = table.get_item(Key={"account": "sub:acme", "batch_id": "batch-1"})["Item"]
    assert set(registry.due(NOW)) == set()  # the scanner cannot see the old entries

    report = migrations.migrate(table, now=NOW)

    assert sorted(report.scheduled_accounts) == ["account-id 7", "parent", "sub:acme", "sub:half"]
    assert set(registry.due(NOW)) == {"account-id 7", "parent", "sub:acme", "sub:half"}  # the scanner reads them now
    for account in report.scheduled_accounts:
        item = table.get_item(Key={"account": ACCOUNTS_PARTITION, "batch_id": account})["Item"]
        assert (item["due_shard"], item["due_at"], item["registered_at"]) == (RECONCILE_SHARD, NOW, NOW - 86400)
    current = table.get_item(Key={"account": ACCOUNTS_PARTITION, "batch_id": "sub:current"})["Item"]
    assert current["due_at"] == NOW + 900  # a time this release set is left alone
    assert table.get_item(Key={"account": "sub:acme", "batch_id": "batch-1"})["Item"] == before_batch

    assert migrations.migrate(table, now=NOW + 60).scheduled_accounts == []  # idempotent
    item = table.get_item(Key={"account": ACCOUNTS_PARTITION, "batch_id": "parent"})["Item"]
    assert item["due_at"] == NOW


@pytest.mark.usefixtures("aws")
def test_the_command_migrates_the_table_it_is_given_and_says_what_it_changed(capsys: pytest.CaptureFixture) -> None:
    _old_entry("sub:legacy")
    assert migrations.main(["--table", "batches"]) == 0
    assert "batches: 1 registry entries given a reconcile time" in capsys.readouterr().out
    assert migrations.main(["--table", "batches"]) == 0
    assert "batches: 0 registry entries" in capsys.readouterr().out
