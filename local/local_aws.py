"""The local stack's AWS: moto's server in this process, sessions and clients on it, and the resources the
template creates (secret, tables, bus, queues) made in it."""

from __future__ import annotations

import logging
from typing import Any

import boto3
import requests
from moto.server import ThreadedMotoServer

from . import template as cfn
from .moto_atomic import make_dynamodb_atomic

LOCAL_STACK_NAME = "scheduled-sends-local"
LOCAL_REGION = "us-east-1"


def pseudo_refs() -> dict[str, str]:
    """CloudFormation's pseudo parameters, as the local stack answers them."""
    return {
        "AWS::StackName": LOCAL_STACK_NAME,
        "AWS::Region": LOCAL_REGION,
        "AWS::AccountId": "000000000000",
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
    }


class LocalAws:
    """moto, started from an empty account; `endpoint_url` once started."""

    def __init__(self) -> None:
        self._moto: ThreadedMotoServer | None = None
        self.endpoint_url = ""

    def start(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every AWS call
        make_dynamodb_atomic()  # the API serves requests in parallel: moto must not show half an update
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._moto.start()
        host, port = self._moto.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        # moto's backends are per process: start from an empty account even if a server ran here before.
        requests.post(f"{self.endpoint_url}/moto-api/reset", timeout=10).raise_for_status()

    def stop(self) -> None:
        if self._moto:
            self._moto.stop()

    def session(self) -> boto3.session.Session:
        return boto3.session.Session(
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - moto accepts any
            region_name=LOCAL_REGION,
        )

    def client(self, service: str, **options: Any) -> Any:
        return self.session().client(service, endpoint_url=self.endpoint_url, **options)

    def resource(self, service: str) -> Any:
        return self.session().resource(service, endpoint_url=self.endpoint_url)

    def create_resources(self, template: dict[str, Any], refs: dict[str, str], secret_string: str) -> dict[str, str]:
        """Create in moto what the template creates (secret, table, bus, queue), returning each Ref value."""
        created: dict[str, str] = {}
        stack = {"AWS::StackName": LOCAL_STACK_NAME}
        for name, resource in template["Resources"].items():
            properties = resource.get("Properties", {})
            if not cfn.exists(template, name, refs):
                continue
            if resource["Type"] == "AWS::SecretsManager::Secret":
                secret_name = cfn.resolve(properties["Name"], template, stack)
                created[name] = self.client("secretsmanager").create_secret(
                    Name=secret_name, SecretString=secret_string
                )["ARN"]
            elif resource["Type"] == "AWS::DynamoDB::Table":
                table_name = f"{LOCAL_STACK_NAME}-{name}"
                cfn.create_table(self.client("dynamodb"), table_name, properties)
                created[name] = table_name
            elif resource["Type"] == "AWS::Events::EventBus":
                bus_name = cfn.resolve(properties["Name"], template, stack)
                self.client("events").create_event_bus(Name=bus_name)
                created[name] = bus_name
            elif resource["Type"] == "AWS::SQS::Queue":
                created[name] = self.client("sqs").create_queue(QueueName=f"{LOCAL_STACK_NAME}-{name}")["QueueUrl"]
        return created
