"""`scheduled-sends`: the operator's command-line tool for the scheduled-sends control plane.

It finds a deployed stack by name (`--stack`, from its CloudFormation outputs) or the local server (`--local`),
signs every API request with the operator's own AWS credentials (SigV4, botocore's signer), and answers in a
table for people or JSON (`--json`) for scripts. The deployed layer never imports it (import-linter contract).
"""
