"""Lambda handler: GET /v3/user/scheduled_sends/{batch_id} (one scheduled send)."""

from scheduled_sends.app.operations import get_scheduled_send
from scheduled_sends.entry.api import api_handler

lambda_handler = api_handler(get_scheduled_send)
