"""Lambda handler: GET /v3/ops/batches (admins: batches across accounts by time left, from the table)."""

from scheduled_sends.entry.api import api_handler
from scheduled_sends.entry.ops import ops_list_batches

lambda_handler = api_handler(ops_list_batches)
