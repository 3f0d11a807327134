"""The documentation's generated parts, made from the files they describe so the site cannot drift from them.

`python -m docs_gen` (`make docs-gen`) writes docs/generated/*.md from template.yaml (parameters and outputs),
schemas/events/*.schema.json (the events reference), openapi/scheduled-sends.yaml (the API reference) and the
committed bench results (docs/performance/bench-results.json); `--check` only compares, and a test runs it.
"""
