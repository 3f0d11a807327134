"""Shared package of the scheduled-sends control plane (deployed as a Lambda layer).

Floors, each importing only the floors below it (import-linter contracts in pyproject.toml, checked by
`make test`):

    entry     Lambda entry points and the composition root (`entry.bootstrap`, which builds the collaborators)
    app       the seven operations, who may act, SendGrid calls and row writes, the scanner, reconcile
    adapters  one module (or package: `sendgrid/`) per outside system: SendGrid, secrets, tables, event bus
    runtime   settings, clock and deadline, observability, the container of singletons
    domain    pure rules by concept, the commands parsed from requests, validation, errors (no I/O library)

Where a pause is authorized: `app/caller.py`; where its slot is counted: `app/slot_check.py` with the rules of
`domain/slot_quota.py`; where SendGrid is called: `app/upstream.py` through `adapters/sendgrid/`; where the row is
written: `app/recording.py` through `adapters/batches_table.py` (`BatchStore.change`).
"""
