"""Accounts and owners, pure: the table's key of an account, who owns a batch, who is an admin, who may act.

An account is the parent (`PARENT_ACCOUNT`) or a subuser named by `on-behalf-of`; an owner is a principal, every
session of an assumed role being one owner (`owner_of`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

PARENT_ACCOUNT = "parent"

_ASSUMED_ROLE = re.compile(r"arn:(?P<partition>[\w-]+):sts::(?P<account>\d+):assumed-role/(?P<role>[^/]+)/.+")
# A role's ARN may carry a path (role/ops/oncall); its sessions' ARNs never do (assumed-role/oncall/...).
_ROLE = re.compile(r"arn:(?P<partition>[\w-]+):iam::(?P<account>\d+):role/(?:[^/]+/)*(?P<role>[^/]+)")


def account_key(on_behalf_of: str | None) -> str:
    """The table's partition for an account: the parent, or the `on-behalf-of` subuser/customer account."""
    return f"sub:{on_behalf_of}" if on_behalf_of else PARENT_ACCOUNT


def on_behalf_of_of(account: str) -> str | None:
    return None if account == PARENT_ACCOUNT else account.removeprefix("sub:")


def subuser_permitted(allowed: tuple[str, ...], on_behalf_of: str | None) -> bool:
    """A token limited to subusers acts only for them, never for the parent account; no limit = any."""
    return not allowed or on_behalf_of in allowed


def owner_of(principal: str) -> str:
    """Every session of an assumed role is one owner: the role itself, written without its path
    (`arn:aws:iam::1:role/<name>`). Role names are unique in an account whatever the path, and a session's ARN
    carries none, so an admin or owner written as `role/ops/oncall` is the same principal as the sessions of
    `oncall`. Rows recorded before paths were dropped already hold this form (they come from sessions)."""
    found = _ASSUMED_ROLE.fullmatch(principal) or _ROLE.fullmatch(principal)
    if found:
        return f"arn:{found['partition']}:iam::{found['account']}:role/{found['role']}"
    return principal


def is_admin(owner: str, admins: Iterable[str]) -> bool:
    return owner_of(owner) in {owner_of(admin) for admin in admins}


def same_owner(a: str | None, b: str | None) -> bool:
    """Two recorded or calling principals are one owner (both normalised the same way)."""
    return a is not None and b is not None and owner_of(a) == owner_of(b)


def may_act(owner: str, batch_owner: str | None, admins: Iterable[str]) -> bool:
    return is_admin(owner, admins) or same_owner(batch_owner, owner)
