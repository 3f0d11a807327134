"""Lambda handler: the dashboard's custom widget (paused batches at risk across accounts, as HTML; read-only)."""

from scheduled_sends.entry.ops import at_risk_widget_handler

lambda_handler = at_risk_widget_handler()
