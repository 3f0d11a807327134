"""Lambda handler: GET /v3/user/scheduled_sends/{batch_id} (one scheduled send)."""

from scheduled_sends.api import api_handler
from scheduled_sends.operations import get_scheduled_send

lambda_handler = api_handler(get_scheduled_send)
