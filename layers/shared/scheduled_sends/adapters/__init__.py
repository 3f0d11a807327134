"""Adapters: one module per outside system, and the only code that talks to it.

`sendgrid` (HTTP, retries), `secrets` (the key), `batches_table` (batch rows and the `due`/`active`
indexes), `accounts` (the accounts the scanner reconciles), `token_table` (team tokens), `event_bus`
(EventBridge), `aws` (boto3 clients built from the container's environment), `dynamodb` (shared paging
and condition helpers)."""
