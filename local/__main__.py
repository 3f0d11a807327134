"""`python -m local` (what `make run` starts): serve the API until Ctrl-C."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from .server import CALLER_HEADER, DEFAULT_CALLER_ARN, DEFAULT_LOCAL_SUBUSERS, LocalService


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")))
    parser.add_argument("--caller-arn", default=os.environ.get("LOCAL_CALLER_ARN", DEFAULT_CALLER_ARN))
    parser.add_argument("--scan-seconds", type=float, default=float(os.environ.get("LOCAL_SCAN_SECONDS", "30")))
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
        )
    except ValueError as error:
        parser.error(str(error))
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    # Lambda sets the template's variables before the handler is imported; Powertools reads these at import.
    # Set once here, before any thread starts; each function's other settings stay in its own container.
    os.environ.update(service.powertools_environment())
    service.start()
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
        f"  Expiry scanner: every {service.scan_seconds:g} s (LOCAL_SCAN_SECONDS)\n"
        + (
            "  Auth: TOKEN - issue a team token with `make token-issue TEAM=<name>`, then send\n"
            "        Authorization: Bearer <token> (the sendgrid client: SendGridAPIClient(token, host=...))\n"
            if service.auth_mode == "TOKEN"
            else f"  Auth: IAM - caller {service.caller_arn} (SigV4 is NOT verified locally; header {CALLER_HEADER}"
            " picks another)\n"
        )
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
    stopped.wait()
    print("stopping...", flush=True)
    service.stop()
    print("stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
