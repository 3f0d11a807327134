"""The local stack's own controls, beside the API: `/_local/stack` (outputs, like describe-stacks),
`/_local/events` (what the bus carried), `/_local/clock` (move time, then run the scanner once),
`/_local/console` (the page an operator watches) and the published OpenAPI document."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import SplitResult, parse_qs

import yaml

from . import template as cfn
from .bus import BadFilter, since_seconds
from .console import CONSOLE_PATH, AtRiskSection, ConsoleView, render_console, widget_section
from .event_feed import EventFeed
from .routes import Answer
from .scanning import ClockRefused, LocalClock, ScannerLoop, iso

OPENAPI_PATH = cfn.ROOT / "openapi" / "scheduled-sends.yaml"
# What `scheduled-sends --local` reads to find the local stack (its outputs and moto, like describe-stacks).
STACK_PATH = "/_local/stack"
EVENTS_PATH = "/_local/events"  # GET: what the bus carried (?detail-type=&batch_id=&since=)
CLOCK_PATH = "/_local/clock"  # POST {"advance": "71h"} or {"at": <unix seconds>}: move time, then scan once


def json_answer(status: int, body: Any) -> Answer:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


def refusal(status: int, message: str, field: str | None = None) -> Answer:
    return json_answer(status, {"errors": [{"field": field, "message": message}]})


class LocalControls:
    """Answers the `/_local/*` paths and /openapi.{yaml,json}; None for every other request."""

    def __init__(
        self,
        clock: LocalClock,
        scanner: ScannerLoop,
        feed: EventFeed,
        log: Callable[[str], None],
        describe_stack: Callable[[], dict[str, Any]],
        console_view: Callable[[], ConsoleView],
        at_risk_section: Callable[[], AtRiskSection | None] = lambda: None,
    ) -> None:
        """`at_risk_section()`: the console's at-risk table renderer now (None: the dashboard widget's)."""
        self._clock, self._scanner, self._feed, self._log = clock, scanner, feed, log
        self._describe_stack, self._console_view = describe_stack, console_view
        self._at_risk_section = at_risk_section

    def answer(self, method: str, parts: SplitResult, body: bytes) -> Answer | None:
        if method == "GET" and parts.path in ("/openapi.yaml", "/openapi.json"):
            return self._openapi(parts.path.endswith(".json"))
        if method == "GET" and parts.path == STACK_PATH:
            return json_answer(200, self._describe_stack())
        if parts.path == EVENTS_PATH and method == "GET":
            return self._events(parts.query)
        if parts.path == CLOCK_PATH and method in ("GET", "POST"):
            return self._clock_answer(method, body)
        if parts.path == CONSOLE_PATH and method == "GET":
            page = render_console(self._console_view(), self._at_risk_section() or widget_section())
            return 200, {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}, page.encode()
        return None

    def advance(self, body: Any) -> dict[str, Any]:
        """POST /_local/clock: move time (`advance` a duration, or to `at` unix seconds), run the scanner once and
        say what it did and which events it published."""
        moved = self._clock.target(body)
        self._clock.move(moved)
        self._log(f"clock: moved forward {moved} s to {iso(self._clock.now())}")
        before_scan = self._feed.mark()  # what came before the move is not the scan's
        scan = self._scanner.scan_and_report()
        return {
            "now": self._clock.now(),
            "time": iso(self._clock.now()),
            "moved_seconds": moved,
            "offset_seconds": self._clock.offset,
            "scan": scan,
            # Whoever read them off the bus (this request or `make run`'s collection every 0.5 s), the scan's.
            "events": self._feed.since(before_scan),
        }

    def _openapi(self, as_json: bool) -> Answer:
        """The service's published OpenAPI document (openapi/scheduled-sends.yaml), as YAML or JSON."""
        text = OPENAPI_PATH.read_text(encoding="utf-8")
        if as_json:
            return 200, {"Content-Type": "application/json"}, json.dumps(yaml.safe_load(text)).encode()
        return 200, {"Content-Type": "application/yaml"}, text.encode()

    def _events(self, query: str) -> Answer:
        """GET /_local/events: the events the bus carried, oldest first, filtered by `detail-type`, `batch_id`
        and `since` (unix seconds or ISO 8601, compared with each event's time)."""
        filters = {name: values[-1] for name, values in parse_qs(query).items()}
        unknown = set(filters) - {"detail-type", "batch_id", "since"}
        if unknown:
            return refusal(400, f"unknown filter {sorted(unknown)[0]}; filters: detail-type, batch_id, since")
        try:
            since = since_seconds(filters["since"]) if "since" in filters else None
        except BadFilter as problem:
            return refusal(400, str(problem), "since")
        self._feed.collect()
        return json_answer(200, self._feed.tap.events(filters.get("detail-type"), filters.get("batch_id"), since))

    def _clock_answer(self, method: str, body: bytes) -> Answer:
        """GET: the local stack's time and the last scan. POST: move it forward, run the scanner once, answer what
        it did."""
        if method == "GET":
            now = self._clock.now()
            last_scan = self._scanner.last_scan
            return json_answer(
                200, {"now": now, "time": iso(now), "offset_seconds": self._clock.offset, "last_scan": last_scan}
            )
        try:
            document = json.loads(body or b"null")
        except ValueError:
            return refusal(400, "the body is not JSON")
        try:
            return json_answer(200, self.advance(document))
        except ClockRefused as problem:
            return refusal(400, str(problem))
