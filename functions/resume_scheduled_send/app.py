"""Lambda handler: DELETE /v3/user/scheduled_sends/{batch_id} (remove the cancel/pause)."""

from scheduled_sends.api import api_handler
from scheduled_sends.operations import resume_scheduled_send

lambda_handler = api_handler(resume_scheduled_send)
