"""ACCOUNT as a caller writes `on-behalf-of`: a subuser's name, `account-id <id>`, or `parent` (no header)."""

from __future__ import annotations

import re

from .outcome import UsageProblem

PARENT = "parent"
_ACCOUNT_ID = re.compile(r"account-id\s+(\S+)")


def on_behalf_of(account: str) -> str | None:
    """The `on-behalf-of` header for ACCOUNT, or None for the parent account."""
    text = " ".join(account.split())
    if not text:
        raise UsageProblem("ACCOUNT is a subuser's name, `account-id <id>` or `parent`, not empty")
    if text == PARENT:
        return None
    found = _ACCOUNT_ID.fullmatch(text)
    if text.startswith("account-id") and not found:
        raise UsageProblem(f"write an account id as `account-id <id>`, not {account!r}")
    if not found and " " in text:
        raise UsageProblem(f"a subuser's name has no spaces: {account!r} (an account id: `account-id <id>`)")
    return text


def query_value(account: str) -> str:
    """ACCOUNT as the admin routes' `account` filter takes it (the on-behalf-of form, or "parent")."""
    header = on_behalf_of(account)
    return PARENT if header is None else header
