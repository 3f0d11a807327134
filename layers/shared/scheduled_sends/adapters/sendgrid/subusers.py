"""What SendGrid says each subuser's region is, remembered per container.

SendGrid's subuser list (`GET /v3/subusers?include_region=true`, pages of `limit` from `offset`) is read with
the parent's key at the stack's region host, and trusted for the refresh period (`SubuserRegionRefreshSeconds`).
A subuser the list does not name is looked up once by name (`?username=`: one created since the last read),
then remembered either way. A region is fixed at creation, so a known subuser keeps its region even while the
list cannot be read. A name the list does not hold raises `SubuserNotListed` (400: the parent account's
subuser list is the authority); a list that cannot be read raises `RegionUnknown` (503). A failed read, or a
name SendGrid does not list, is believed for a minute, so a failing list or a stream of unknown names never
hammers SendGrid.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from ...domain.errors import RegionUnknown, ServiceError, SubuserNotListed
from ...domain.regions import listed_regions
from ...runtime import clock
from ...runtime.observability import logger
from .client import SendGridClient

SUBUSERS_PATH = "/v3/subusers"
PAGE_SIZE = 100  # SendGrid documents no maximum page size; 100 stays below any plausible one
MAX_PAGES = 1000  # a guard against a server that ignores `offset`, not a limit anyone should reach
RETRY_AFTER_SECONDS = 60  # how long a failed read of the list, or a name SendGrid does not list, is believed
MAX_REMEMBERED_MISSES = 1024


class _ListUnavailable(Exception):
    """SendGrid's subuser list could not be read; the message says why (never a key)."""


class SubuserDirectory:
    """username -> region, from SendGrid's subuser list; safe to share between threads (the local runner)."""

    def __init__(self, client: SendGridClient, refresh_seconds: int, now: Callable[[], int] | None = None) -> None:
        self._client = client
        self._refresh_seconds = refresh_seconds
        self._now = now or (lambda: clock.now())  # looked up per call: tests move the clock
        self._regions: dict[str, str] = {}
        self._listed_at: int | None = None
        self._list_failed_at: int | None = None
        self._misses: dict[str, int] = {}  # names SendGrid did not list, and when it said so
        self._lock = threading.Lock()  # one reader of the list at a time; the others wait for its answer

    def known(self, username: str) -> str | None:
        """The remembered region, without asking SendGrid."""
        return self._regions.get(username)

    def region_of(self, username: str) -> str:
        with self._lock:
            now = self._now()
            failure = self._refresh_if_due(now)
            if username in self._regions:
                return self._regions[username]
            if failure is None and not self._missed_recently(username, now):
                try:
                    found = self._look_up(username)
                except _ListUnavailable as problem:
                    failure = str(problem)
                else:
                    if found is not None:
                        self._regions[username] = found
                        return found
            if failure is not None:
                raise RegionUnknown(
                    f"the SendGrid region of subuser {username!r} cannot be known: SendGrid's subuser list could "
                    f"not be read ({failure}); nothing was sent to SendGrid, try again later"
                )
            self._remember_miss(username, now)
            raise SubuserNotListed(
                f"SendGrid's subuser list for the parent account does not hold {username!r}, so there is no "
                "such subuser to act for; nothing was sent to SendGrid (check the on-behalf-of name against "
                "the parent account's subusers)"
            )

    # -- reading SendGrid's list ---------------------------------------------------------------------
    def _refresh_if_due(self, now: int) -> str | None:
        """Read the whole list when it is older than the refresh period; why that failed, or None."""
        if self._listed_at is not None and now - self._listed_at < self._refresh_seconds:
            return None
        if self._list_failed_at is not None and now - self._list_failed_at < RETRY_AFTER_SECONDS:
            return "it failed moments ago"
        try:
            listed = self._list_all()
        except _ListUnavailable as problem:
            self._list_failed_at = now
            logger.warning("SendGrid's subuser list could not be read", extra={"reason": str(problem)})
            return str(problem)
        self._regions = listed  # subusers deleted since are forgotten; regions never change otherwise
        self._listed_at, self._list_failed_at = now, None
        self._misses.clear()
        return None

    def _list_all(self) -> dict[str, str]:
        regions: dict[str, str] = {}
        seen: set[str] = set()
        offset = 0
        for _ in range(MAX_PAGES):
            page = self._page(include_region="true", limit=PAGE_SIZE, offset=offset)
            regions.update(listed_regions(page))
            names = {e["username"] for e in page if isinstance(e.get("username"), str)}
            if len(page) < PAGE_SIZE or names <= seen:  # the last page, or a server that ignores `offset`
                return regions
            seen |= names
            offset += len(page)
        raise _ListUnavailable(f"it has more than {MAX_PAGES} pages")

    def _look_up(self, username: str) -> str | None:
        """One subuser by name (SendGrid's `username` filter; only an exact match counts)."""
        page = self._page(username=username, include_region="true", limit=PAGE_SIZE)
        return listed_regions(page).get(username)

    def _page(self, **query: str | int) -> list[Any]:
        try:
            answer = self._client.call("GET", f"{SUBUSERS_PATH}?{urlencode(query)}")
        except ServiceError as error:  # unreachable, rate limited, timed out, key rejected or unreadable
            raise _ListUnavailable(type(error).__name__) from None
        if answer.status != 200:
            raise _ListUnavailable(f"SendGrid answered {answer.status}")
        try:
            page: list[Any] = json.loads(answer.body or "null")
            listed_regions(page)  # the shape is checked before anything is taken from it
        except ValueError:
            raise _ListUnavailable("SendGrid's answer is not a list of subusers") from None
        return page

    # -- names SendGrid does not list ---------------------------------------------------------------
    def _missed_recently(self, username: str, now: int) -> bool:
        missed_at = self._misses.get(username)
        return missed_at is not None and now - missed_at < RETRY_AFTER_SECONDS

    def _remember_miss(self, username: str, now: int) -> None:
        if len(self._misses) >= MAX_REMEMBERED_MISSES:
            self._misses.pop(next(iter(self._misses)))
        self._misses[username] = now
