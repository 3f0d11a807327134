"""Application: what the service does, with collaborators handed in by the composition root
(`scheduled_sends.entry.bootstrap`) and the domain's rules. No module here looks a collaborator up itself.

Following one pause (POST /v3/user/scheduled_sends):

    operations    the seven operations, each `(request, services) -> response`: parse the command once
                  (`domain.commands`), authorize, check window and slots, call SendGrid once, record
    caller        who is calling and what they may do: where a pause is authorized (`Caller.authorize`), no I/O
    slot_check    where its slot is counted (`slot_refusal`, with `domain.slot_quota`'s rules)
    upstream      where SendGrid is called for a caller's account (`Upstream.forward`)
    recording     where the row is written after SendGrid applied it (`Recorder.record_change`), with retries,
                  the account's registration for reconcile and the metrics of failed writes

The rest:

    acting        one request's caller, upstream and recorder, built from the services
    services      the collaborators an operation or the scanner receives (`Services`)
    contract      what an operation takes and answers (`ApiRequest`, `ApiResponse`, `Operation`)
    idempotency   repeatable creates (Powertools' idempotency, built on first use)
    scanner       one scanner run: warnings, expiry actions, expiry, reclaim (per-batch work under a lease)
    reconcile     the accounts whose turn has come against SendGrid's lists (uses `repair`, never the scanner)
    repair        an account's rows written as SendGrid's list shows them (reconcile and a pause's slot check)
    reclaim       freeing a slot: SendGrid's entry deleted, the reclaim announced
    scan_summary  what a run did (counters and gauges)
    ops_api       the admin routes across accounts (admins only), answered from the table
    ops_queries   the table's reads for the admin routes, the widget and the at-risk gauges
    at_risk_page  the dashboard widget's HTML
    event_detail  the fields every published event shares
"""
