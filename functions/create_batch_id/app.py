"""Lambda handler: POST /v3/mail/batch (create a batch id)."""

from scheduled_sends.api import api_handler
from scheduled_sends.operations import create_batch_id

lambda_handler = api_handler(create_batch_id)
