"""Lambda handler: POST /v3/user/scheduled_sends (cancel or pause a scheduled send)."""

from scheduled_sends.app.operations import pause_or_cancel
from scheduled_sends.entry.api import api_handler

lambda_handler = api_handler(pause_or_cancel)
