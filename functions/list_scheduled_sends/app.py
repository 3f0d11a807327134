"""Lambda handler: GET /v3/user/scheduled_sends (list cancelled and paused sends)."""

from scheduled_sends.app.operations import list_scheduled_sends
from scheduled_sends.entry.api import api_handler

lambda_handler = api_handler(list_scheduled_sends)
