"""Header values of an API Gateway event (proxy or REQUEST authorizer), read the same way everywhere."""

from __future__ import annotations

from typing import Any


def header_values(event: dict[str, Any], name: str) -> list[str]:
    """All values of header `name` (lower case), case-insensitively; API Gateway gives both maps."""
    multi = event.get("multiValueHeaders") or {}
    values = [v for key, vs in multi.items() if key.lower() == name for v in (vs or [])]
    if values:
        return values
    single = event.get("headers") or {}
    return [v for key, v in single.items() if key.lower() == name and v is not None]
