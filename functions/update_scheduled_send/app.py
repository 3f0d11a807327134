"""Lambda handler: PATCH /v3/user/scheduled_sends/{batch_id} (change its status)."""

from scheduled_sends.app.operations import update_scheduled_send
from scheduled_sends.entry.api import api_handler

lambda_handler = api_handler(update_scheduled_send)
