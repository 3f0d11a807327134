"""Domain: SendGrid's rules and ours, pure. Limits, windows, expiry and the scanner's timing (`rules`),
caller input checks (`validation`), error types (`errors`), team token format (`tokens`) and retry timing
(`backoff`). No I/O: imports neither boto3, botocore, requests nor Powertools (an import-linter contract)."""
