"""Shared package of the scheduled-sends control plane (deployed as a Lambda layer).

Dependencies point one way: handlers -> api -> operations -> (validation, sendgrid, secrets) -> config.
"""
