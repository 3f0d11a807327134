"""What one scanner run did: its counters (each a CloudWatch metric, `Scanner<Name>`) and its gauges."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from ..domain import expiry_buckets
from ..domain.scan_limits import SlotGauges


@dataclass
class ScanSummary:
    due: int = 0
    warned: int = 0
    actioned: int = 0
    expired: int = 0
    reclaimed: int = 0
    drift: int = 0
    errors: int = 0
    items_read: int = 0
    reconciled: int = 0  # accounts reconciled by this run
    reconcile_due: int = 0  # accounts whose reconcile was due when the run ended (0: it caught up)
    sendgrid_calls: int = 0  # of the scanner's share of SendGrid's rate limit (reconcile's lists)
    rate_limited: int = 0  # 429s: the run then left SendGrid to the teams
    unreconcilable: int = 0  # accounts SendGrid refuses (e.g. a subuser it does not list): set aside, not errors
    stopped_early: int = 0  # 1 when the run stopped taking work before its deadline (the next one continues)
    # For the log only: slots in use per account reconciled by this run.
    slots_in_use: dict[str, int] = field(default_factory=dict)
    # Gauges over every account (from the registry: what each one's last reconcile saw).
    slot_gauges: SlotGauges = field(default_factory=SlotGauges)
    paused_by_expiry: dict[str, int] = field(default_factory=lambda: dict.fromkeys(expiry_buckets.EXPIRY_BUCKETS, 0))
    # Paused batches expiring within 1 h / 6 h, all and without an expiry action (metric name -> count).
    at_risk: dict[str, int] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """The counters (the gauges are dicts); read from the values, not the postponed annotations."""
        return {f.name: getattr(self, f.name) for f in fields(self) if isinstance(getattr(self, f.name), int)}
