"""The reference for `make bench`'s cold request: what a team would write without this project.

One boto3 DynamoDB client and one GetItem (the ownership row), then the same SendGrid call with `requests`,
the key from an environment variable. No Powertools, no X-Ray, no Secrets Manager, no validation.
"""

import json
import os

import boto3
import requests

_dynamodb = boto3.client("dynamodb")
_session = requests.Session()
_table = os.environ["BATCHES_TABLE_NAME"]
_base_url = os.environ["SENDGRID_API_BASE_URL"]
_key = os.environ["SENDGRID_API_KEY"]


def lambda_handler(event, context):
    batch_id = (event.get("pathParameters") or {}).get("batch_id") or json.loads(event.get("body") or "{}").get(
        "batch_id", "none"
    )
    _dynamodb.get_item(
        TableName=_table, Key={"account": {"S": "parent"}, "batch_id": {"S": batch_id}}, ConsistentRead=True
    )
    answer = _session.request(
        event["httpMethod"],
        f"{_base_url}/v3{event['path']}",
        headers={"Authorization": f"Bearer {_key}", "Content-Type": "application/json"},
        data=event.get("body"),
        timeout=10,
    )
    return {"statusCode": answer.status_code, "body": answer.text}
