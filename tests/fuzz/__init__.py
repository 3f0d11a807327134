"""Generated requests against the local server (schemathesis, from the published OpenAPI document)."""

from hypothesis import HealthCheck, settings


def fuzz_settings(max_examples: int) -> settings:
    """Reproducible runs (derandomized, no example database) bounded by count, not by time."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
