"""Lambda handler: GET /v3/user/scheduled_sends (list cancelled and paused sends)."""

from scheduled_sends.api import api_handler
from scheduled_sends.operations import list_scheduled_sends

lambda_handler = api_handler(list_scheduled_sends)
