"""The local runner (`make run`): the deployed handlers on 127.0.0.1 with SendGrid sandboxes and moto, the
`/_local/*` controls and the console. Never deployed. `server.LocalService` puts the parts together."""
