"""The slot ledger's moves are DynamoDB updates DynamoDB accepts: every name and value they declare is used (DynamoDB
refuses a request declaring one its expressions do not use), for every pair of before/after a row write can make."""

from __future__ import annotations

import itertools
import re

import pytest

from scheduled_sends.adapters.slot_ledger import _bulk_moves, entry_moves

STATES: list[str | bool | None] = [False, None, "arn:aws:iam::1:user/a", "arn:aws:iam::1:user/b"]


def _placeholders(expression: str) -> set[str]:
    return set(re.findall(r"[#:][A-Za-z0-9_]+", expression))


@pytest.mark.parametrize(("before", "after"), list(itertools.product(STATES, STATES)))
def test_each_move_uses_exactly_what_it_declares(before: str | bool | None, after: str | bool | None) -> None:
    moves = entry_moves("parent", "b1", before, after)
    if before == after:
        assert moves is None
        return
    assert moves is not None
    used = _placeholders(moves["UpdateExpression"])
    assert used == set(moves["ExpressionAttributeNames"]) | set(moves["ExpressionAttributeValues"])
    held_changes = (before is False) != (after is False)
    assert ("#held" in used) == held_changes  # `held` moves only when the row starts or stops holding a slot


@pytest.mark.parametrize("adding", [True, False])
def test_a_bulk_move_uses_exactly_what_it_declares(adding: bool) -> None:
    moves = _bulk_moves("parent", {"b1": "arn:aws:iam::1:user/a", "b2": None, "b3": "arn:aws:iam::1:user/b"}, adding)
    used = _placeholders(moves["UpdateExpression"])
    assert used == set(moves["ExpressionAttributeNames"]) | set(moves["ExpressionAttributeValues"])
    assert moves["ExpressionAttributeValues"][":held"] == {"b1", "b2", "b3"}
