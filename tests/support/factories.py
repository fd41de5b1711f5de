"""Factory fixtures: a test makes as many emulators, targets or proxies as it needs, and the fixture closes
every one of them afterwards, whether the test passed or not."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


def closing_factory(make: Callable[..., T], close: Callable[[T], None]) -> Iterator[Callable[..., T]]:
    """For a fixture to `yield from`: yields `make`, remembering what it made; then closes each, in order."""
    made: list[T] = []

    def tracked(*args: Any, **kwargs: Any) -> T:
        thing = make(*args, **kwargs)
        made.append(thing)
        return thing

    yield tracked
    for thing in made:
        close(thing)
