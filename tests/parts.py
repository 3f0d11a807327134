"""Parts the tests build the application with, in place of the composition root's own
(`scheduled_sends.entry.bootstrap.use`): a store that fails its writes, a clock the test holds, a SendGrid or a
store that dies at a chosen call. Each wraps the real part and changes only what it says; none touches a private
name of the service."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from scheduled_sends.entry import bootstrap
from scheduled_sends.runtime.clock import Clock


class Wrapping:
    """Everything the wrapped part does, except what a subclass defines."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


class FailingWrites(Wrapping):
    """A batches store whose every write raises `failure()` (reads still work)."""

    def __init__(self, real: Any, failure: Callable[[], BaseException]) -> None:
        super().__init__(real)
        self.failure = failure

    def change(self, *args: Any, **kwargs: Any) -> Any:
        raise self.failure()

    def record_projected(self, *args: Any, **kwargs: Any) -> Any:
        raise self.failure()


class HeldClock(Clock):
    """The time as the service's clock has it, but the time left before the run's deadline is the test's:
    `left()` seconds (0 or less: the deadline has come)."""

    def __init__(self, left: Callable[[], float]) -> None:
        self.left = left

    def remaining_seconds(self) -> float | None:
        return self.left()


class DiesAt(Wrapping):
    """A part that raises `crash` (a BaseException: the function dies) on the first call `dies_at(name, args,
    kwargs)` picks; `after=True`: once that call has been made (its effect happened, its answer is lost)."""

    def __init__(
        self, real: Any, dies_at: Callable[[str, tuple, dict], bool], crash: BaseException, after: bool = False
    ) -> None:
        super().__init__(real)
        self.dies_at, self.crash, self.after = dies_at, crash, after
        self.died = False

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.real, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            if self.died or not self.dies_at(name, args, kwargs):
                return attribute(*args, **kwargs)
            self.died = True
            if self.after:
                attribute(*args, **kwargs)
            raise self.crash

        return call


@contextmanager
def using(**parts: Any) -> Iterator[Any]:
    """The application built with these parts inside the block (`bootstrap.use`), with the ones before after it."""
    before = bootstrap.services()
    try:
        yield bootstrap.use(**parts)
    finally:
        bootstrap.use(**{name: getattr(before, name) for name in parts})
