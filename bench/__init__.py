"""`make bench` (`python -m bench`): what the service adds to a SendGrid round trip, as ratios within one run.

One module per job: `common` (paths, the operations and their events, timing helpers), `fakes` (counted AWS
calls, a canned SendGrid, moto, an X-Ray daemon's socket), `lambda_layer` (Lambda's environment and the layer as
built), one module per scenario (`warm_overhead`, `secret_reads`, `cold_start` with its child `cold_request`,
`scanner_scaling`, `scanner_accounts`, `authorizer`, `local_server`), `report`
(the printed table and the targets) and `__main__` (options, the run, bench-results.json).
"""
