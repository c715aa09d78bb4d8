"""Waits in place inside a call, which an executor in the same process need not count.

A step that waits on a timer (a page delay waited in the page step) uses no CPU
meanwhile. The embedded executor limits the calls it makes at once, and marks
each call into an app in its own process with its limit (`lending`); around such
a wait, `waiting_in_place` lends the call's place to other calls and takes it
back after. Unmarked (an app in another process, Inngest), it is a plain wait.

The seam between the functions and the executor: both import this module, and
it imports nothing of pagerunner.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from contextvars import ContextVar
from typing import Protocol

__all__ = ["Lender", "lending", "waiting_in_place"]


class Lender(Protocol):
    """What a call's place can be lent to: the executor's limit of calls at once."""

    def lend(self) -> None:
        """The call waits: it no longer counts."""

    async def take_back(self) -> None:
        """The wait ended: the call counts again (it may queue for a place)."""

    def drop(self) -> None:
        """The wait ended in an exception: the call counts again at once, to end."""


_LENDER: ContextVar[Lender | None] = ContextVar("pagerunner_inplace_lender", default=None)


@contextlib.contextmanager
def lending(lender: Lender) -> Iterator[None]:
    """Calls made inside (tasks started inside too) may lend their place to `lender`."""
    token = _LENDER.set(lender)
    try:
        yield
    finally:
        _LENDER.reset(token)


@contextlib.asynccontextmanager
async def waiting_in_place() -> AsyncIterator[None]:
    """Around a wait that uses no CPU: the call's place is lent meanwhile, if any."""
    lender = _LENDER.get()
    if lender is None:
        yield
        return
    lender.lend()
    try:
        yield
    except BaseException:  # cancelled, or failed: the call ends, it does not queue again
        lender.drop()
        raise
    await lender.take_back()
