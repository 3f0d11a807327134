"""`python -m migrations --stack NAME [--region R]` (or `make migrate STACK=NAME`): bring a stack's data written by
earlier releases up to this one. Idempotent: a second run changes nothing.

The stack is found by its outputs (BatchesTableName), as an operator would, with the caller's own AWS credentials;
`--table NAME` names the batches table directly instead.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from typing import Any

import boto3

from scheduled_sends.adapters.accounts import AccountRegistry


@dataclass(frozen=True)
class Report:
    """What one run changed: the accounts given a reconcile time (empty on a second run)."""

    scheduled_accounts: list[str]


def migrate(batches_table: Any, now: int | None = None) -> Report:
    """Every step, in order, on the batches table (a boto3 Table). 1.0.0: registry entries without a reconcile
    time get one, due at once (before, they were reconciled only once a function acted for them again)."""
    when = int(time.time()) if now is None else now
    return Report(scheduled_accounts=AccountRegistry(batches_table).schedule_unscheduled(when))


def _table_name(stack: str, session: boto3.session.Session) -> str:
    (described,) = session.client("cloudformation").describe_stacks(StackName=stack)["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    return outputs["BatchesTableName"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m migrations", description=__doc__.splitlines()[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--stack", help="the deployed stack's name (its BatchesTableName output is migrated)")
    target.add_argument("--table", help="the batches table's name, instead of --stack")
    parser.add_argument("--region", help="the stack's region (default: your AWS configuration's)")
    arguments = parser.parse_args(argv)
    session = boto3.session.Session(region_name=arguments.region)
    table_name = arguments.table or _table_name(arguments.stack, session)
    report = migrate(session.resource("dynamodb").Table(table_name))
    print(f"{table_name}: {len(report.scheduled_accounts)} registry entries given a reconcile time (due now)")
    for account in report.scheduled_accounts:
        print(f"  {account}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
