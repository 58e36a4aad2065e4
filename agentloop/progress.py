"""Progress of the long loops (episodes, search waves, training steps, tasks), drawn
by whoever is watching.

A loop asks `progress_bar(...)` for a bar and calls `update`, `set_postfix` and
`close` on it: the calls tqdm offers, so used directly the library draws tqdm
bars as it always did. Inside `bars_to(factory)` the bars come from `factory`
instead: `agentloop run`'s live display (`agentloop.run.console`) shows them as
rows of the phase it draws, and nothing is written to the terminal behind its
back.

Example:
    >>> bar = progress_bar(total=len(tasks), desc="episodes", unit="ep")
    >>> for task in tasks:
    ...     play(task); bar.update(1); bar.set_postfix(success=f"{wins}/{done}")
    >>> bar.close()
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol


class Bar(Protocol):
    """One progress bar: `total` items of which some are done, and a few running facts."""

    def update(self, n: int = 1) -> Any:
        """`n` more items are done."""

    def set_postfix(self, **facts: Any) -> Any:
        """Show these running facts (`success="3/8"`, `loss="0.4123"`) beside the count."""

    def close(self) -> Any:
        """The loop is over."""


BarFactory = Callable[..., Bar]
"""Called as `factory(total=, desc=, unit=, initial=)`; returns a `Bar`."""


class _NoBar:
    """A bar nobody sees (progress turned off)."""

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, **facts: Any) -> None:
        pass

    def close(self) -> None:
        pass


_factory: ContextVar[BarFactory | None] = ContextVar("agentloop_progress", default=None)


def progress_bar(total: int, desc: str, unit: str, initial: int = 0, enabled: bool = True) -> Bar:
    """A bar over `total` items (`initial` of them already done, e.g. on resume).

    It comes from the factory of the innermost `bars_to`, else it is a tqdm bar
    on stderr; `enabled=False` gives a bar that draws nothing anywhere.
    """
    if not enabled:
        return _NoBar()
    factory = _factory.get()
    if factory is not None:
        return factory(total=total, desc=desc, unit=unit, initial=initial)
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit=unit)


@contextmanager
def bars_to(factory: BarFactory) -> Iterator[None]:
    """While inside, `progress_bar` returns `factory`'s bars (in this thread and context)."""
    token = _factory.set(factory)
    try:
        yield
    finally:
        _factory.reset(token)
