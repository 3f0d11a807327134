"""Shared package of the scheduled-sends control plane (deployed as a Lambda layer).

Floors, each importing only the floors below it (import-linter contracts in pyproject.toml, checked by
`make test`):

    entry     Lambda entry points: API Gateway adapter, authorizer, scanner schedule, SnapStart hooks
    app       the seven operations, who may act, the scanner, reconcile, idempotency
    adapters  one module per outside system: SendGrid, secrets, tables, event bus
    runtime   settings, clock and deadline, observability, the container of singletons
    domain    pure rules, validation, errors, token format (no I/O library)
"""
