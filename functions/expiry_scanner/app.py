"""Lambda handler: the EventBridge-scheduled expiry scanner (warnings, expiry actions, reclaim, reconcile)."""

from scheduled_sends.entry.scheduled import scanner_handler

lambda_handler = scanner_handler()
