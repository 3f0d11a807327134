"""An embedded SendGrid sandbox: the documented "Cancel Scheduled Sends" behaviour over real HTTP.

Rules (../shared/reference): batch ids it created validate, unknown ones do not; at most 10 different
batches paused/cancelled per account; a second POST for a batch with a status is a 400 ("try PATCH");
PATCH changes a status; DELETE removes it; `on-behalf-of` scopes everything to that account;
a wrong Bearer key is 401; every answer carries X-RateLimit-* headers. Never deployed.

It also keeps time, so tests can see what happens to mail: `POST /v3/mail/send` with `batch_id` and
`send_at` schedules a mail (only the fields it needs; 202 as SendGrid), and on the sandbox's clock (`clock`,
which tests and the local runner move) each mail is delivered at `send_at` unless its batch is cancelled
then (discarded) or paused (held: delivered when the pause is deleted, discarded if it is changed to a
cancel, expired 72 h after `send_at`). `mails()` (and `GET /sandbox/mails`) report each mail's fate:
scheduled, delivered, discarded or expired. SendGrid does not accept `on-behalf-of` on mail send (a subuser
sends with its own key); the sandbox takes it there as that key would, to keep one key per sandbox. For local
experiments without the key, `POST /sandbox/mails` with {"batch_id", "send_at", "on_behalf_of"} schedules a mail
exactly as that account's own mail send would (a team sends mail with its own key, never the service's).

Regions: one sandbox is one SendGrid host (`region` "global" = api.sendgrid.com, "eu" = api.eu.sendgrid.com).
It knows the parent account's subusers and their regions (`subusers`, e.g. {"acme": "global", "eurocorp":
"eu"}; a "*" entry gives every other name that region, as if it had been created there; an "account-id <id>"
entry places a customer account, which otherwise lives with the parent) and serves only the
accounts of its own region: the parent and customer accounts ("account-id <id>") where the parent lives
(`parent_region`), each subuser at its region's host. A call on behalf of any other account is refused with
403 `access forbidden` (SendGrid does not document this answer; a 403 makes a misrouted call loud: the service
reports SendGrid rejecting its key), so a call that reaches the wrong host is visible. The host of the parent
lists the subusers: `GET /v3/subusers` (`include_region`, `username`, `region`, `limit`, `offset`), as SendGrid.

Faults can be switched on for tests and local experiments (`inject`): 429 with rate-limit headers,
500/503, a slow answer, or a dropped connection; "slow" and "drop" apply the operation first, so the
caller loses an answer to a change that did happen. A slow answer is held for `delay_seconds` and sent
only to a caller still waiting then: one that hung up (its read timeout fired) never gets it, and
`stop()` ends every hold. Tests hold far longer than the client's timeout, so the timeout always fires
and no wall clock is raced.
"""

from __future__ import annotations

import base64
import json
import random
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .http import DropConnection, HoldAnswer, LoopbackServer

MAX_ACTIVE_BATCHES = 10
EXPIRY_SECONDS = 72 * 3600  # a paused mail is discarded as expired 72 hours after send_at
MAX_SCHEDULE_AHEAD_SECONDS = 72 * 3600
FATES = ("scheduled", "delivered", "discarded", "expired")
MAILS_PATH = "/sandbox/mails"  # GET: every mail and its fate; POST: schedule one (local experiments)
RATE_LIMIT = 600
REGIONS = ("global", "eu")
EVERY_OTHER_SUBUSER = "*"
SUBUSERS_PATH = "/v3/subusers"
DEFAULT_PAGE_SIZE = 100  # SendGrid documents that a default exists, not its value
_BATCH = r"(?P<batch_id>[^/]+)"
_ROUTES = [
    ("POST", re.compile(r"/v3/mail/send"), "send_mail"),
    ("POST", re.compile(r"/v3/mail/batch"), "create_batch"),
    ("GET", re.compile(rf"/v3/mail/batch/{_BATCH}"), "validate_batch"),
    ("GET", re.compile(r"/v3/user/scheduled_sends"), "list_statuses"),
    ("POST", re.compile(r"/v3/user/scheduled_sends"), "set_status"),
    ("GET", re.compile(rf"/v3/user/scheduled_sends/{_BATCH}"), "get_status"),
    ("PATCH", re.compile(rf"/v3/user/scheduled_sends/{_BATCH}"), "update_status"),
    ("DELETE", re.compile(rf"/v3/user/scheduled_sends/{_BATCH}"), "delete_status"),
]


FAULTS = ("429", "500", "503", "slow", "drop")
CONTROL_PATH = "/sandbox/faults"  # POST {"mode": "503", "times": 3}; DELETE clears (local experiments)


@dataclass
class Fault:
    mode: str
    remaining: int  # how many more requests it hits
    delay_seconds: float = 2.0  # for "slow": how long the answer is held (a caller that hangs up never gets it)
    paths: tuple[str, ...] = ()  # only requests whose path starts with one of these (all when empty)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Mail:
    """One scheduled mail and what became of it (`decided_at`: when its fate was sealed)."""

    message_id: str
    account: str
    batch_id: str | None
    send_at: int
    fate: str = "scheduled"
    held: bool = False  # past send_at and paused: kept until the pause is deleted, changed or expires
    decided_at: int | None = None


@dataclass
class _Account:
    name: str = ""
    batches: set[str] = field(default_factory=set)
    statuses: dict[str, str] = field(default_factory=dict)
    mails: list[Mail] = field(default_factory=list)

    def settle(self, now: int) -> None:
        """Every mail's fate as of `now`, from the batch statuses as they have been since the last settle
        (the sandbox settles before and after every request, and whenever its clock is read)."""
        self.mails = [self._settled(mail, now) for mail in self.mails]

    def _settled(self, mail: Mail, now: int) -> Mail:
        if mail.fate != "scheduled" or now < mail.send_at:
            return mail
        status = self.statuses.get(mail.batch_id) if mail.batch_id else None
        if status == "cancel":
            return replace(mail, fate="discarded", held=False, decided_at=now if mail.held else mail.send_at)
        if status == "pause":
            if now >= mail.send_at + EXPIRY_SECONDS:
                return replace(mail, fate="expired", held=False, decided_at=mail.send_at + EXPIRY_SECONDS)
            return replace(mail, held=True)
        return replace(mail, fate="delivered", held=False, decided_at=now if mail.held else mail.send_at)


class _Refusal(Exception):
    def __init__(self, status: int, message: str, field_name: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field_name


class SendGridSandbox:
    """Start with `start()`; `url` is its base URL; `requests` records what reached it."""

    def __init__(
        self,
        api_key: str,
        host: str = "127.0.0.1",
        port: int = 0,
        region: str = "global",
        subusers: Mapping[str, str] | None = None,
        parent_region: str = "global",
        clock: Callable[[], int] | None = None,
    ) -> None:
        """`subusers`: name -> region of the parent's subusers ("*": every other name); by default every name is
        a global subuser, so a sandbox on its own behaves as one global host that accepts any subuser."""
        self.api_key = api_key
        self.clock: Callable[[], int] = clock or (lambda: int(time.time()))  # tests and `make run` move it
        self.region = _region(region)
        self.parent_region = _region(parent_region)
        declared = dict({EVERY_OTHER_SUBUSER: "global"} if subusers is None else subusers)
        # Every other name's region, if any ("*" as an on-behalf-of value is then just another name).
        self.other_subusers: str | None = declared.pop(EVERY_OTHER_SUBUSER, None)
        self.subusers = declared  # the named ones (tests may add or remove some: created or deleted at SendGrid)
        for where in [*self.subusers.values(), *([self.other_subusers] if self.other_subusers else [])]:
            _region(where)
        self._lock = threading.Lock()
        self.rate_limit: int | None = None  # requests per one-minute window (on `clock`); None: unlimited
        self._window_counts: dict[int, int] = {}
        self._accounts: dict[str, _Account] = {}
        self._seen_subusers: list[str] = []  # names the "*" entry made subusers, in the order they appeared
        self.requests: list[RecordedRequest] = []
        self._faults: list[Fault] = []
        # Where new batch and mail ids come from: secret ones, or a seeded generator's (`seed_ids`: a test that must
        # replay the same ids, in the same order of the table's sort keys, run after run).
        self._ids: Callable[[int], str] = secrets.token_urlsafe
        self._server = LoopbackServer(host, port, self.respond, name="sendgrid-sandbox")

    @property
    def url(self) -> str:
        return self._server.url

    def start(self) -> SendGridSandbox:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def _count_against_the_rate_limit(self, reset: int) -> tuple[int, int]:
        """(remaining, reset) of the one-minute window on the sandbox's clock when `rate_limit` is set (a 429
        when it is spent, as SendGrid), else the fixed headers of an unlimited sandbox."""
        if self.rate_limit is None:
            return RATE_LIMIT - 1, reset
        with self._lock:
            window = self.clock() // 60
            self._window_counts[window] = self._window_counts.get(window, 0) + 1
            return self.rate_limit - self._window_counts[window], (window + 1) * 60

    def seed_ids(self, seed: int | None) -> None:
        """From now on, new batch and mail ids come from a generator seeded with `seed` (None: secret ones again)."""
        if seed is None:
            self._ids = secrets.token_urlsafe
            return
        generator = random.Random(seed)  # noqa: S311 -- replayable test ids, not secrets
        self._ids = lambda size: base64.urlsafe_b64encode(generator.randbytes(size)).rstrip(b"=").decode()

    def reset(self) -> None:
        with self._lock:
            self._window_counts.clear()
            self._accounts.clear()
            self._seen_subusers.clear()
            self.requests.clear()
            self._faults.clear()

    def inject(self, mode: str, times: int = 1, delay_seconds: float = 2.0, paths: tuple[str, ...] = ()) -> None:
        """Make the next `times` matching requests fail with `mode` (see FAULTS)."""
        if mode not in FAULTS:
            raise ValueError(f"unknown fault {mode!r}; one of {FAULTS}")
        with self._lock:
            self._faults.append(Fault(mode, times, delay_seconds, paths))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _control(self, method: str, raw: bytes) -> tuple[int, dict[str, str], bytes]:
        try:
            if method == "DELETE":
                self.clear_faults()
            elif method == "POST":
                order = json.loads(raw or b"{}")
                self.inject(str(order["mode"]), int(order.get("times", 1)), float(order.get("delay_seconds", 2.0)))
            else:
                raise ValueError("POST a fault or DELETE them all")
        except (ValueError, KeyError, TypeError) as problem:
            body = {"errors": [{"field": None, "message": f"sandbox control: {problem}"}]}
            return 400, {"Content-Type": "application/json"}, json.dumps(body).encode()
        with self._lock:
            pending = [{"mode": f.mode, "remaining": f.remaining} for f in self._faults if f.remaining > 0]
        return 200, {"Content-Type": "application/json"}, json.dumps({"faults": pending}).encode()

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and (not fault.paths or path.startswith(fault.paths)):
                    fault.remaining -= 1
                    return fault
        return None

    def statuses(self, account: str = "") -> dict[str, str]:
        with self._lock:
            return dict(self._account(account).statuses)

    def held(self) -> dict[str, dict[str, str]]:
        """Every account's batch statuses (account: its `on-behalf-of`, "" for the parent): its taken slots."""
        with self._lock:
            return {name: dict(account.statuses) for name, account in self._accounts.items() if account.statuses}

    def mails(self, account: str | None = None) -> list[Mail]:
        """Every mail (of `account`, or of all accounts) with its fate as of the sandbox's clock now."""
        with self._lock:
            now = self.clock()
            found: list[Mail] = []
            for name, state in self._accounts.items():
                if account is None or name == account:
                    state.settle(now)
                    found.extend(state.mails)
            return found

    def _mails_answer(self) -> tuple[int, dict[str, str], bytes]:
        body = {"now": self.clock(), "mails": [vars(mail) for mail in self.mails()]}
        return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()

    def _schedule_mail(self, raw: bytes) -> tuple[int, dict[str, str], bytes]:
        """POST /sandbox/mails: what `POST /v3/mail/send` with the account's own key does, without the key."""
        try:
            body = json.loads(raw or b"null")
            if not isinstance(body, dict):
                raise _Refusal(400, 'send {"batch_id": ..., "send_at": ..., "on_behalf_of": ... (optional)}')
            on_behalf_of = body.pop("on_behalf_of", None) or ""
            with self._lock:
                if not isinstance(on_behalf_of, str) or not self._serves(on_behalf_of):
                    raise _Refusal(403, "access forbidden: this host does not serve that account", "on_behalf_of")
                account = self._account(on_behalf_of)
                account.settle(self.clock())
                status, _ = self.send_mail(account, body)
        except ValueError:
            status, refusal = 400, _Refusal(400, "request body is invalid JSON")
        except _Refusal as refused:
            status, refusal = refused.status, refused
        else:
            return status, {}, b""
        body = {"errors": [{"field": refusal.field, "message": refusal.message}]}
        return status, {"Content-Type": "application/json"}, json.dumps(body).encode()

    def batches(self, account: str = "") -> set[str]:
        """The batch ids this sandbox created for `account` (whether or not their creator heard of them)."""
        with self._lock:
            return set(self._account(account).batches)

    @property
    def api_requests(self) -> list[RecordedRequest]:
        """What reached the Cancel Scheduled Sends API: every request but the subuser list's."""
        return [r for r in self.requests if not r.path.startswith(SUBUSERS_PATH)]

    @property
    def subuser_list_requests(self) -> list[RecordedRequest]:
        """The service's reads of the subuser list (`GET /v3/subusers`)."""
        return [r for r in self.requests if r.path.split("?", 1)[0] == SUBUSERS_PATH]

    # -- regions -----------------------------------------------------------------------------------
    def region_of(self, on_behalf_of: str) -> str | None:
        """Where the account lives: as `subusers` names it, else the parent's region for a customer account
        ("account-id <id>") or the "*" region for a subuser; None when the parent has no such subuser."""
        if on_behalf_of in self.subusers:
            return self.subusers[on_behalf_of]
        if _is_customer_account(on_behalf_of):
            return self.parent_region
        return self.other_subusers

    def _serves(self, on_behalf_of: str) -> bool:
        if not on_behalf_of:
            return self.region == self.parent_region
        self._saw(on_behalf_of)
        return self.region_of(on_behalf_of) == self.region

    def _saw(self, name: str) -> None:
        """A name the "*" entry covers becomes a subuser the first time it is named (a call or a look-up)."""
        undeclared = name not in self.subusers and not _is_customer_account(name)
        if undeclared and self.region_of(name) is not None and name not in self._seen_subusers:
            self._seen_subusers.append(name)

    def _all_subusers(self) -> list[tuple[str, str]]:
        named = [(name, where) for name, where in self.subusers.items() if not _is_customer_account(name)]
        other = self.other_subusers
        return named + ([(name, other) for name in self._seen_subusers] if other else [])

    def list_subusers(self, query: str) -> tuple[int, Any]:
        """GET /v3/subusers, as SendGrid pages it (`limit` items from `offset`), filtered by `username` (exact
        here; SendGrid does not say) and `region`; each entry has `region` only with include_region=true. Only the
        parent's host answers it (`handle` refuses the parent's calls elsewhere)."""
        params = {key: values[-1] for key, values in parse_qs(query, keep_blank_values=True).items()}
        limit = _whole_number(params.get("limit"), "limit", DEFAULT_PAGE_SIZE, minimum=1)
        offset = _whole_number(params.get("offset"), "offset", 0, minimum=0)
        wanted_region = params.get("region", "all")
        if wanted_region not in ("all", *REGIONS):
            raise _Refusal(400, "region must be one of all, global, eu", "region")
        username = params.get("username")
        if username is not None:
            self._saw(username)
        with_region = params.get("include_region", "false").lower() == "true"
        entries = [
            {
                "disabled": False,
                "email": f"{name}@example.com",
                "id": 1000 + number,  # stable: the subuser's place among all of them
                "username": name,
                **({"region": where} if with_region else {}),
            }
            for number, (name, where) in enumerate(self._all_subusers())
            if (username is None or name == username) and wanted_region in ("all", where)
        ]
        return 200, entries[offset : offset + limit]

    # -- the rules -------------------------------------------------------------------------------
    def _account(self, name: str) -> _Account:
        if name not in self._accounts:
            self._accounts[name] = _Account(name)
        return self._accounts[name]

    def send_mail(self, account: _Account, body: Any, batch_id: str = "") -> tuple[int, Any]:
        """The part of SendGrid's mail send the sandbox needs: a batch_id it issued and a send_at at most
        72 hours ahead (none: now). 202 with no body, as SendGrid answers."""
        if not isinstance(body, dict):
            raise _Refusal(400, "request body is invalid JSON")
        batch, send_at, now = body.get("batch_id"), body.get("send_at", self.clock()), self.clock()
        if batch is not None and batch not in account.batches:
            raise _Refusal(400, "invalid batch id", "batch_id")
        if isinstance(send_at, bool) or not isinstance(send_at, int) or send_at > now + MAX_SCHEDULE_AHEAD_SECONDS:
            raise _Refusal(400, "send_at must be a unix timestamp at most 72 hours ahead", "send_at")
        account.mails.append(Mail(self._ids(16), account.name, batch, send_at))
        return 202, None

    def create_batch(self, account: _Account, body: Any, batch_id: str = "") -> tuple[int, Any]:
        new_id = self._ids(24)
        account.batches.add(new_id)
        return 201, {"batch_id": new_id}

    def validate_batch(self, account: _Account, body: Any, batch_id: str = "") -> tuple[int, Any]:
        if batch_id not in account.batches:
            raise _Refusal(400, "invalid batch id")
        return 200, {"batch_id": batch_id}

    def list_statuses(self, account: _Account, body: Any, batch_id: str = "") -> tuple[int, Any]:
        return 200, [{"batch_id": key, "status": value} for key, value in account.statuses.items()]

    def set_status(self, account: _Account, body: Any, batch_id: str = "") -> tuple[int, Any]:
        if not isinstance(body, dict):
            raise _Refusal(400, "request body is invalid JSON")
        requested, status = body.get("batch_id"), body.get("status")  # this route has no batch id in its path
        if requested not in account.batches:
            raise _Refusal(400, "invalid batch id", "batch_id")
        if status not in ("cancel", "pause"):
            raise _Refusal(400, "status must be either cancel or pause", "status")
        if requested in account.statuses:
            raise _Refusal(400, "a status for this batch id exists, try PATCH to update the status")
        if len(account.statuses) >= MAX_ACTIVE_BATCHES:
            raise _Refusal(400, "max limit reached")
        account.statuses[requested] = status
        return 201, {"batch_id": requested, "status": status}

    def get_status(self, account: _Account, body: Any, batch_id: str = "") -> tuple[int, Any]:
        if batch_id not in account.statuses:
            raise _Refusal(404, "batch id not found")
        return 200, [{"batch_id": batch_id, "status": account.statuses[batch_id]}]

    def update_status(self, account: _Account, body: Any, batch_id: str = "") -> tuple[int, Any]:
        if batch_id not in account.statuses:
            raise _Refusal(404, "batch id not found")
        status = body.get("status") if isinstance(body, dict) else None
        if status not in ("cancel", "pause"):
            raise _Refusal(400, "status must be either cancel or pause", "status")
        account.statuses[batch_id] = status
        return 204, None

    def delete_status(self, account: _Account, body: Any, batch_id: str = "") -> tuple[int, Any]:
        if account.statuses.pop(batch_id, None) is None:
            raise _Refusal(404, "batch id not found")
        return 204, None

    def handle(self, method: str, path: str, headers: dict[str, str], raw_body: bytes) -> tuple[int, Any]:
        with self._lock:
            self.requests.append(RecordedRequest(method, path, headers, raw_body))
            lowered = {key.lower(): value for key, value in headers.items()}
            if lowered.get("authorization") != f"Bearer {self.api_key}":
                raise _Refusal(401, "authorization required")
            on_behalf_of = lowered.get("on-behalf-of", "")
            if not self._serves(on_behalf_of):
                raise _Refusal(403, "access forbidden")  # an account this host does not have
            parts = urlsplit(path)
            if method == "GET" and parts.path == SUBUSERS_PATH and not on_behalf_of:
                return self.list_subusers(parts.query)
            for route_method, pattern, operation in _ROUTES:
                found = pattern.fullmatch(path.split("?", 1)[0])
                if found and route_method == method:
                    try:
                        body = json.loads(raw_body) if raw_body.strip() else None
                    except ValueError:
                        raise _Refusal(400, "request body is invalid JSON") from None
                    account = self._account(on_behalf_of)
                    account.settle(self.clock())  # what the statuses did to mail until now
                    answer = getattr(self, operation)(account, body, **found.groupdict())
                    account.settle(self.clock())  # e.g. a deleted pause delivers its held mail now
                    return answer
            if any(pattern.fullmatch(path) for _, pattern, _ in _ROUTES):
                raise _Refusal(405, "method not allowed")
            raise _Refusal(404, "resource not found")

    def respond(
        self, method: str, path: str, headers: list[tuple[str, str]], raw: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """One HTTP exchange: SendGrid's status, its rate-limit headers and a JSON body (or none)."""
        if path == CONTROL_PATH:
            return self._control(method, raw)
        if path == MAILS_PATH and method == "GET":
            return self._mails_answer()
        if path == MAILS_PATH and method == "POST":
            return self._schedule_mail(raw)
        fault = self._take_fault(path)
        reset = int(time.time()) // 60 * 60 + 60
        if fault is not None and fault.mode in ("429", "500", "503"):
            with self._lock:
                self.requests.append(RecordedRequest(method, path, dict(headers), raw))
            status = int(fault.mode)
            message = {429: "too many requests", 500: "internal error", 503: "service unavailable"}[status]
            limited = {"X-RateLimit-Remaining": "0", "Retry-After": "0"} if status == 429 else {}
            body = json.dumps({"errors": [{"field": None, "message": message}]}).encode()
            return (
                status,
                {
                    "X-RateLimit-Limit": str(RATE_LIMIT),
                    "X-RateLimit-Reset": str(reset),
                    **limited,
                    "Content-Type": "application/json",
                },
                body,
            )
        remaining, reset = self._count_against_the_rate_limit(reset)
        if remaining < 0:
            limited_body = {"errors": [{"field": None, "message": "too many requests"}]}
            limited_headers = {"X-RateLimit-Limit": str(self.rate_limit), "X-RateLimit-Remaining": "0"}
            return 429, {**limited_headers, "X-RateLimit-Reset": str(reset)}, json.dumps(limited_body).encode()
        try:
            status, payload = self.handle(method, path, dict(headers), raw)
        except _Refusal as refusal:
            status = refusal.status
            payload = {"errors": [{"field": refusal.field, "message": refusal.message}]}
        if fault is not None and fault.mode == "drop":
            raise DropConnection  # applied, but the caller never hears of it
        answer_headers = {
            "X-RateLimit-Limit": str(self.rate_limit or RATE_LIMIT),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(reset),
        }
        if payload is None:
            answer = status, answer_headers, b""
        else:
            answer = status, {**answer_headers, "Content-Type": "application/json"}, json.dumps(payload).encode()
        if fault is not None and fault.mode == "slow":
            raise HoldAnswer(answer, fault.delay_seconds)  # applied; answered only if the caller still waits
        return answer


def _is_customer_account(on_behalf_of: str) -> bool:
    return on_behalf_of.startswith("account-id ")


def _region(value: str) -> str:
    if value not in REGIONS:
        raise ValueError(f"a SendGrid region is one of {', '.join(REGIONS)}, not {value!r}")
    return value


def _whole_number(value: str | None, name: str, default: int, minimum: int) -> int:
    if value is None:
        return default
    if not value.isdigit() or int(value) < minimum:
        raise _Refusal(400, f"{name} must be an integer of at least {minimum}", name)
    return int(value)


def parse_subusers(text: str) -> dict[str, str]:
    """ "acme:global,eurocorp:eu,*:global" -> {"acme": "global", "eurocorp": "eu", "*": "global"}."""
    found: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        name, colon, where = part.strip().rpartition(":")
        if not colon or not name.strip() or where.strip() not in REGIONS:
            raise ValueError(
                f"a local subuser is name:global or name:eu (or *:<region> for every other name), not {part!r}"
            )
        found[name.strip()] = where.strip()
    return found
