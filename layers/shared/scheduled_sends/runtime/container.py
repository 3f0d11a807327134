"""The container: every per-container singleton (settings, clients, caches) lives in one `Container`.

A Lambda container builds its clients once and reuses them across invocations; here that is a `Container`
built from an environment (Lambda's `os.environ` by default). A module declares a singleton with
`@singleton` and a factory taking the container; the value is built on first use, per container. There is
no other module-level cache, so `reset()` forgets everything at once (the tests and the bench play many
containers in one process), and the local runner gives each function a container of its own environment
(`using`) without touching the process's `os.environ`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

T = TypeVar("T")
Factory = Callable[["Container"], T]


class Container:
    """One container's environment and everything built from it, each built once on first use."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ: Mapping[str, str] = os.environ if environ is None else dict(environ)
        self._built: dict[Callable[..., Any], Any] = {}
        self._lock = threading.RLock()  # a factory may ask for another singleton (the store needs settings)

    def get(self, factory: Factory[T]) -> T:
        try:
            built: T = self._built[factory]
        except KeyError:
            with self._lock:
                if factory not in self._built:
                    self._built[factory] = factory(self)
                built = self._built[factory]
        return built

    def provide(self, factory: Factory[T], value: T) -> None:
        """Use `value` as this container's singleton of `factory` from now on (the composition root's chosen parts)."""
        with self._lock:
            self._built[factory] = value

    def built(self, factory: Factory[T]) -> T | None:
        """The singleton if this container has built it already (for hooks that must not build)."""
        return self._built.get(factory)


_process: Container | None = None
_current: ContextVar[Container | None] = ContextVar("scheduled_sends_container", default=None)


def current() -> Container:
    """The container of the running invocation: the one `using` set, else the process's own."""
    chosen = _current.get()
    if chosen is not None:
        return chosen
    global _process
    if _process is None:
        _process = Container()
    return _process


@contextmanager
def using(container: Container) -> Iterator[Container]:
    """Run the code inside as `container`'s invocation (the local runner: one container per function)."""
    token = _current.set(container)
    try:
        yield container
    finally:
        _current.reset(token)


def reset() -> None:
    """A new process container: every singleton is built again, from the environment as it is now."""
    global _process
    _process = None


def singleton(factory: Factory[T]) -> Callable[[], T]:
    """`factory` as a zero-argument accessor of the current container's instance."""

    def accessor() -> T:
        return current().get(factory)

    accessor.__name__ = factory.__name__
    accessor.__qualname__ = factory.__qualname__
    accessor.__doc__ = factory.__doc__
    accessor.factory = factory  # type: ignore[attr-defined]
    return accessor
