"""Entry points: how Lambda calls in. `api` (API Gateway proxy events to operations and back),
`authorizer` (team tokens), `scheduled` (the scanner's EventBridge schedule), `snapstart` (runtime
hooks), `headers` (reading API Gateway's header maps)."""
