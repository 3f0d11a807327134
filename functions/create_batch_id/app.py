"""Lambda handler: POST /v3/mail/batch (create a batch id)."""

from scheduled_sends.app.operations import create_batch_id
from scheduled_sends.entry.api import api_handler

lambda_handler = api_handler(create_batch_id)
