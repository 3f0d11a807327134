"""`python -m local` (what `make run` starts): serve the API until Ctrl-C."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

from .server_file import AlreadyServed, check_free, claim, release
from .stopping import StopRequested, StopSignals

EVENTS_SECONDS = 0.5  # how often the bus's events are collected, printed and forwarded
SCAN_LOG_MESSAGE = "scan finished"  # the scanner's summary line (entry/scheduled.py), ~3 KB of JSON for CloudWatch


LOG_MODES = ("short", "json")  # LOCAL_LOG: one line per request (default), or also every JSON line as in AWS


class _ShortLog(logging.Filter):
    """What the functions log, for a terminal: the scanner's JSON summary never (the runner prints one short line
    per scan; kept in AWS) and, unless LOCAL_LOG=json, nothing below WARNING (the runner's line per request says
    it; a warning or an error still shows whole)."""

    def __init__(self, everything: bool) -> None:
        super().__init__()
        self._everything = everything

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == SCAN_LOG_MESSAGE:
            return False
        return self._everything or record.levelno >= logging.WARNING


class _WithoutMetrics:
    """stdout without the lines of CloudWatch metrics (EMF JSON, ~200 B a request, ~2 KB a scan): those of a scan
    always (the runner's one line says what it did), every one unless LOCAL_LOG=json. Everything else shows."""

    def __init__(self, stream: Any, scanning: Callable[[], bool], everything: bool) -> None:
        self._stream, self._scanning, self._everything = stream, scanning, everything
        self._dropped = threading.local()  # print() writes a line, then its "\n" on its own

    def write(self, text: str) -> int:
        if not self._everything or self._scanning():
            if text.startswith('{"_aws"'):
                self._dropped.line = True
                return len(text)
            if text == "\n" and getattr(self._dropped, "line", False):
                self._dropped.line = False
                return len(text)
        return self._stream.write(text)

    def __getattr__(self, name: str) -> Any:  # flush, fileno, encoding, isatty, ...
        return getattr(self._stream, name)


def _stopped_while_starting() -> int:
    """A stop signal came while the stack started: nothing outside this process was made (moto, the sandboxes
    and the functions are threads of it), so exiting now gives everything back."""
    with contextlib.suppress(RuntimeError):  # the signal interrupted a write to stdout (a reentrant call)
        print("stopped while starting.", flush=True)
    return 0


def _refuse_second_runner(taken: AlreadyServed) -> int:
    print(
        f"error: another `make run` (pid {taken.state.get('pid')}) is serving {taken.state.get('url', '?')} from "
        f"this checkout and owns {taken.path}; stop it first, or run a second one with its own file: "
        "LOCAL_SERVER_STATE=<file> PORT=<port> make run",
        file=sys.stderr,
    )
    return 2


def main() -> int:
    # First, before the seconds of imports and startup: a Ctrl-C or SIGTERM from here on stops the runner cleanly.
    stop = StopSignals()
    from .console import CONSOLE_PATH
    from .server import (
        CALLER_HEADER,
        CLOCK_PATH,
        DEFAULT_CALLER_ARN,
        DEFAULT_LOCAL_SUBUSERS,
        EVENTS_PATH,
        LocalService,
        PortInUse,
    )

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")))
    parser.add_argument("--caller-arn", default=os.environ.get("LOCAL_CALLER_ARN", DEFAULT_CALLER_ARN))
    parser.add_argument("--scan-seconds", type=float, default=float(os.environ.get("LOCAL_SCAN_SECONDS", "30")))
    parser.add_argument(
        "--events-url",
        default=os.environ.get("LOCAL_EVENTS_URL") or None,
        metavar="URL",
        help="POST every event of the bus there, as EventBridge delivers it (LOCAL_EVENTS_URL)",
    )
    parser.add_argument(
        "--subusers",
        default=os.environ.get("LOCAL_SUBUSERS", DEFAULT_LOCAL_SUBUSERS),
        metavar="NAME:REGION,...",
        help="the parent's subusers the local SendGrid knows, each global or eu; *:REGION for every other name",
    )
    parser.add_argument(
        "--parameter",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a template parameter, as `sam deploy --parameter-overrides` takes it (e.g. AuthMode=TOKEN)",
    )
    options = parser.parse_args()
    log_mode = os.environ.get("LOCAL_LOG") or "short"
    if log_mode not in LOG_MODES:
        parser.error(f"LOCAL_LOG is short (one line per request, the default) or json, not {log_mode!r}")
    parameters = {}
    for pair in options.parameter:
        name, equals, value = pair.partition("=")
        if not equals:
            parser.error(f"--parameter takes NAME=VALUE, not {pair!r}")
        parameters[name] = value
    try:
        service = LocalService(
            host=options.host,
            port=options.port,
            caller_arn=options.caller_arn,
            sendgrid_base_url=os.environ.get("SENDGRID_API_BASE_URL") or None,
            sendgrid_api_key=os.environ.get("SENDGRID_API_KEY") or None,
            sendgrid_eu_base_url=os.environ.get("SENDGRID_EU_API_BASE_URL") or None,
            sendgrid_eu_api_key=os.environ.get("SENDGRID_EU_API_KEY") or None,
            subusers=options.subusers,
            log=lambda line: print(line, flush=True),
            scan_seconds=options.scan_seconds,
            parameters=parameters,
            events_url=options.events_url,
            events_seconds=EVENTS_SECONDS,
        )
    except ValueError as error:
        parser.error(str(error))
    if stop.requested:  # stopped while importing: nothing was started
        return 0
    try:
        check_free()
    except AlreadyServed as taken:
        return _refuse_second_runner(taken)
    # Lambda sets the template's variables before the handler is imported; Powertools reads these at import.
    # Set once here, before any thread starts; each function's other settings stay in its own container.
    os.environ.update(service.powertools_environment())
    everything = log_mode == "json"
    logging.getLogger(os.environ.get("POWERTOOLS_SERVICE_NAME", "scheduled-sends")).addFilter(_ShortLog(everything))
    sys.stdout = _WithoutMetrics(sys.stdout, service.scanning, everything)
    try:
        service.bind()
    except PortInUse as taken:
        print(
            f"error: port {taken.port} on {taken.host} is already in use (another `make run`?); "
            f"pick another with PORT=<port> make run (or python -m local --port <port>)",
            file=sys.stderr,
        )
        return 2
    print(f"starting the local stack on {service.url} ...", flush=True)
    try:
        with stop.interrupting():
            service.start()
    except StopRequested:
        return _stopped_while_starting()
    try:
        claim({"url": service.url, "auth_mode": service.auth_mode})
    except AlreadyServed as taken:  # another runner claimed it while this one started
        service.stop()
        return _refuse_second_runner(taken)
    upstream = (
        f"embedded SendGrid sandboxes, global host at {service.sendgrid_url}, EU host at {service.sendgrid_eu_url}\n"
        f"  Subusers (LOCAL_SUBUSERS): {service.subusers_label()}; parent account: {service.sendgrid_region}"
        if service.sandbox
        else f"SendGrid-compatible server at {service.sendgrid_url}, EU subusers at {service.sendgrid_eu_url}"
    )
    print(
        f"Scheduled sends API on {service.url}/v3  (e.g. curl {service.url}/v3/user/scheduled_sends)\n"
        f"  SendGrid: {upstream}\n"
        f"  AWS: moto in-process at {service.aws_endpoint_url} (table, event bus, secret from template.yaml)\n"
        f"  Expiry scanner: every {service.scan_seconds:g} s (LOCAL_SCAN_SECONDS), one line per run below\n"
        + (
            f"  Auth: TOKEN - issue a team token with: make token-issue TEAM=<name>\n"
            f"        (or: scheduled-sends --local {service.url} tokens issue --team <name>), then send\n"
            "        Authorization: Bearer <token> (the sendgrid client: SendGridAPIClient(token, host=...))\n"
            if service.auth_mode == "TOKEN"
            else f"  Auth: IAM - caller {service.caller_arn} (SigV4 is NOT verified locally; header {CALLER_HEADER}"
            " picks another)\n"
        )
        + f"  Events: one line each below; curl {service.url}{EVENTS_PATH}  (?detail-type=&batch_id=&since=)"
        + (
            f"; each POSTed to {options.events_url}\n"
            if options.events_url
            else "; LOCAL_EVENTS_URL=<url> POSTs each\n"
        )
        + f'  Clock: curl -X POST {service.url}{CLOCK_PATH} -d \'{{"advance": "71h"}}\' moves the service\'s and\n'
        "         the sandboxes' time forward, then runs the scanner once and answers what it did\n"
        + f"  Console: {service.url}{CONSOLE_PATH}  (batches at risk, SendGrid slots, events; open it in a browser)\n"
        + f"  Log: {'every JSON line' if everything else 'one line per request'} (LOCAL_LOG=short|json)\n"
        + f"  OpenAPI: {service.url}/openapi.yaml\n"
        + (
            f'  Faults: curl -X POST {service.sendgrid_url}/sandbox/faults -d \'{{"mode": "503", "times": 3}}\''
            " (the EU host's URL for EU subusers)\n"
            if service.sandbox
            else ""
        )
        + "  Ctrl-C stops.",
        flush=True,
    )
    stop.wait()
    print("stopping...", flush=True)
    release()
    service.stop()
    print("stopped.", flush=True)
    return 0


def _exit_now(code: int) -> None:
    """Exit once everything is stopped and written out, without the interpreter's teardown: freeing moto's,
    boto3's and the layer's modules one object at a time takes seconds (3 s of a 4 s stop, measured), during
    which the port is free but the process - and the terminal, or a supervisor's restart - still waits."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    _exit_now(main())
