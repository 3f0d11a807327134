"""Lambda handler: POST /v3/user/scheduled_sends (cancel or pause a scheduled send)."""

from scheduled_sends.api import api_handler
from scheduled_sends.operations import pause_or_cancel

lambda_handler = api_handler(pause_or_cancel)
