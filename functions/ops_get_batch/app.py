"""Lambda handler: GET /v3/ops/batches/{batch_id} (admins: one batch and its recent changes, from the table)."""

from scheduled_sends.entry.api import api_handler
from scheduled_sends.entry.ops import ops_get_batch

lambda_handler = api_handler(ops_get_batch)
