"""A fresh Lambda container, in this process: forget every per-container singleton of the layer package.

Used where one process plays many containers in turn (the tests, the bench); call it after the layer
package is importable (installed editable for development). Every singleton lives in the layer's one
container (`scheduled_sends.runtime.container`), so there is nothing else to name here.
"""

from __future__ import annotations


def reset_container() -> None:
    """Settings, clients, the cached secret and the idempotency configuration are built again on next use."""
    from scheduled_sends.runtime import container

    container.reset()
