"""Lambda authorizer of AuthMode=TOKEN: a team token in, the team's policy and context out."""

from scheduled_sends.entry.authorizer import lambda_handler

__all__ = ["lambda_handler"]
