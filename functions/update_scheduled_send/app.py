"""Lambda handler: PATCH /v3/user/scheduled_sends/{batch_id} (change its status)."""

from scheduled_sends.api import api_handler
from scheduled_sends.operations import update_scheduled_send

lambda_handler = api_handler(update_scheduled_send)
