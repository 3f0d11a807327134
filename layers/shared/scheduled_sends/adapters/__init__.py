"""Adapters: one module (or small package) per outside system, and the only code that talks to it.

    sendgrid/       SendGrid over HTTP: where SendGrid is called (`client`: one host; `subusers`: each subuser's
                    region; `router`: a call goes to its account's region; `wiring`: built once per container)
    batches_table   batch rows and the `due`/`active` indexes: where a batch's row is written (`BatchStore.change`)
    accounts        the accounts the scanner reconciles, and what each one's last reconcile saw
    token_table     team tokens
    event_bus       EventBridge
    secrets         the SendGrid key
    aws             boto3 clients built from the container's environment
    dynamodb        shared paging and condition helpers

Each adapter's `@singleton` accessor (e.g. `batch_store`) builds it once per container; only the composition root
(`scheduled_sends.entry.bootstrap`) and the entry points call those accessors, never the application.
"""
