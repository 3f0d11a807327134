"""Application: what the service does with the adapters and the domain's rules.

`contract` (what an operation takes and answers), `caller` (who is asking and who may act on a batch),
`operations` (the seven SendGrid operations), `scanner` (warnings, expiry actions, reclaim) and
`reconcile` (the table against SendGrid's list), `idempotency` (repeatable creates)."""
