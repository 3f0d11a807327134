"""Team tokens (AuthMode=TOKEN): their format, and how they are checked without ever being stored.

A token is `sst_<token_id>_<secret>`: the id (16 hex characters) names the record, the secret (32 random
bytes, URL-safe base64) is shown once and only its SHA-256 is kept. A fast hash is enough here: the secret
is 256 random bits, not a password, so there is nothing for a slow hash to protect against.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from . import validation
from .errors import BadRequest

TEAM_PRINCIPAL_PREFIX = "team:"
_TOKEN = re.compile(r"sst_(?P<token_id>[0-9a-f]{16})_(?P<secret>[A-Za-z0-9_-]{43})")
_TOKEN_ID = re.compile(r"[0-9a-f]{16}")
_TEAM = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_BEARER = re.compile(r"(?i)bearer[ \t]+(?P<token>\S+)[ \t]*")


class InvalidTokenRequest(ValueError):
    """A team name, subuser or token id that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class TeamToken:
    """What is kept of a token: never the secret, only its hash."""

    token_id: str
    team: str
    secret_hash: str
    subusers: tuple[str, ...] = ()  # empty: any account; otherwise only these `on-behalf-of` values
    created_at: int = 0
    revoked_at: int | None = None
    description: str = ""

    @property
    def principal(self) -> str:
        return principal_of(self.team)

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


def principal_of(team: str) -> str:
    """The principal a team's requests act as: owns batches and can be listed in AdminPrincipals."""
    return f"{TEAM_PRINCIPAL_PREFIX}{team}"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def team_name(value: str) -> str:
    if not _TEAM.fullmatch(value):
        raise InvalidTokenRequest(
            "a team name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return value


def token_id(value: str) -> str:
    if not _TOKEN_ID.fullmatch(value):
        raise InvalidTokenRequest("a token id is 16 hexadecimal characters (see the list command)")
    return value


def subusers(values: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Each subuser checked as an `on-behalf-of` value would be; duplicates dropped, order kept."""
    checked: list[str] = []
    for value in values:
        try:
            subuser = validation.on_behalf_of([value])
        except BadRequest as error:
            raise InvalidTokenRequest(f"subuser {value!r}: {error.message}") from None
        if subuser and subuser not in checked:
            checked.append(subuser)
    return tuple(checked)


def new_token(
    team: str, allowed_subusers: list[str] | tuple[str, ...], now: int, description: str = ""
) -> tuple[str, TeamToken]:
    """A fresh token (to show once) and the record to keep."""
    identifier, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    record = TeamToken(
        token_id=identifier,
        team=team_name(team),
        secret_hash=hash_secret(secret),
        subusers=subusers(allowed_subusers),
        created_at=now,
        description=description[:200],
    )
    return f"sst_{identifier}_{secret}", record


def parse(token: str) -> tuple[str, str] | None:
    """(token_id, secret), or None when `token` does not have a team token's shape."""
    found = _TOKEN.fullmatch(token)
    return (found["token_id"], found["secret"]) if found else None


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header value (what the sendgrid client sends)."""
    found = _BEARER.fullmatch(authorization or "")
    return found["token"] if found else None


def matches(record: TeamToken, secret: str) -> bool:
    return hmac.compare_digest(record.secret_hash, hash_secret(secret))
