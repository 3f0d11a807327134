"""Lambda handler: GET /v3/mail/batch/{batch_id} (validate a batch id)."""

from scheduled_sends.api import api_handler
from scheduled_sends.operations import validate_batch_id

lambda_handler = api_handler(validate_batch_id)
