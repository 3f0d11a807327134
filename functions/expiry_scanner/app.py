"""Lambda handler: the EventBridge-scheduled expiry scanner (warnings, expiry actions, reclaim, reconcile)."""

from scheduled_sends.scanner import lambda_handler

__all__ = ["lambda_handler"]
