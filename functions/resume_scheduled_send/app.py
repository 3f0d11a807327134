"""Lambda handler: DELETE /v3/user/scheduled_sends/{batch_id} (remove the cancel/pause)."""

from scheduled_sends.app.operations import resume_scheduled_send
from scheduled_sends.entry.api import api_handler

lambda_handler = api_handler(resume_scheduled_send)
