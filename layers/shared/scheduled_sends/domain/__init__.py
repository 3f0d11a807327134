"""Domain: SendGrid's rules and ours, pure (no I/O: imports neither boto3, botocore, requests nor Powertools, an
import-linter contract). Every rule has a fast unit test. One module per concept:

    ownership       account keys (parent or on-behalf-of subuser), owners, admins, who may act on a batch
    slot_quota      SendGrid's 10 slots per account, the team quota and the admin reserve: where a pause's slot is
                    counted and refused
    send_windows    the 10-minute change window, the 72-hour horizon and expiry, stated send times
    batch           the `Batch` entity (a row of the table) and its statuses
    scan_plan       the scanner's plan for one batch, when it is next due, retry timing, the run's work order
    scan_limits     the scanner's share of SendGrid's rate limit, reconcile intervals, slot gauges
    expiry_buckets  the dashboard's buckets of time left before expiry
    commands        the typed, frozen command each operation starts from, parsed once from the request
    validation      checks of single input values (batch id, status, on-behalf-of, JSON bodies)
    changes         the record of a status change made through the API (who, which request, from and to)
    regions         which SendGrid region (host and key) an account belongs to
    errors          the error types, each with its HTTP status
    tokens          the team token format
    backoff         retry timing (full jitter, Retry-After)
"""
