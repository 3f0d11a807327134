"""Lambda handler: GET /v3/mail/batch/{batch_id} (validate a batch id)."""

from scheduled_sends.app.operations import validate_batch_id
from scheduled_sends.entry.api import api_handler

lambda_handler = api_handler(validate_batch_id)
