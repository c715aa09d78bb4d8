"""How many calls the executor makes at once: adapted to how busy its event loop is.

Calls to apps share one event loop (and, in `pagerunner serve`, one process with the
app). When the apps answer slowly because they wait on the network, many calls in
flight are cheap and make the most of the wait. When the work is CPU-bound, every
call in flight slows every other one down, and the queue's order (priority, then
when a call became due) stops mattering: a call claimed first still waits behind all
the others for the CPU. So the limit follows the loop's lag and the
database writer's queue, as AIMD does: while both are below their targets it grows
by one per sample, up to `ceiling`; when either is above, it shrinks by a quarter,
down to `floor`. Calls that wait are then ordered by the queue, not by the loop.

A call into an app in the same process can lend its place while it waits on a timer
(`pagerunner.inplace.waiting_in_place`; the limit is a `Lender`): it uses no CPU
then, so it does not count, and another call may start. When the wait ends it takes
a place back, in turn if none is free. Without this, queries paced at a page a
second that wait inside their page steps would hold every place and cap the executor
at `ceiling` pages a second.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Callable

__all__ = ["InflightLimit"]

SAMPLE_S = 0.05


class InflightLimit:
    """The limit, and the places lent by calls that wait in place (a `pagerunner.inplace.Lender`).

    `counted` says how many calls in flight count against it now (the executor's
    calls, less the lent ones); `on_lend` is told when a call lends its place.
    """

    def __init__(
        self,
        ceiling: int,
        *,
        floor: int = 8,
        target_lag_s: float = 0.025,
        max_writes_waiting: int = 4,
        counted: Callable[[], int] = lambda: 0,
        on_lend: Callable[[], None] = lambda: None,
    ) -> None:
        self.ceiling = ceiling
        self.floor = min(floor, ceiling)
        self.target_lag_s = target_lag_s
        self.max_writes_waiting = max_writes_waiting
        self.value = ceiling
        self.counted = counted
        self.on_lend = on_lend
        self.lent = 0  # calls in flight that wait in place, or for a place back after
        self._returning: collections.deque[asyncio.Future[None]] = collections.deque()

    def lend(self) -> None:
        """A call waits in place: its place goes to a call taking one back, else to the queue."""
        self.lent += 1
        self.place_freed()
        self.on_lend()

    async def take_back(self) -> None:
        """A call whose wait in place ended counts again: at once if a place is free and
        none waits before it, else when a call ends (`place_freed`)."""
        if not self._returning and self.counted() < self.value:
            self.lent -= 1
            return
        turn = asyncio.get_running_loop().create_future()
        self._returning.append(turn)
        try:
            await turn
        except BaseException:
            if not turn.done() or turn.cancelled():  # not granted: it never counted again
                self.drop()
                with contextlib.suppress(ValueError):
                    self._returning.remove(turn)
            raise

    def drop(self) -> None:
        """A call's wait in place ended in an exception: it counts again at once, to end."""
        self.lent -= 1

    def place_freed(self) -> None:
        """A call ended: its place goes to the calls waiting to take one back, in turn."""
        while self._returning and self.counted() < self.value:
            turn = self._returning.popleft()
            if not turn.done():
                self.lent -= 1
                turn.set_result(None)

    def observe(self, lag_s: float, writes_waiting: int = 0) -> None:
        """One sample: the event loop's lag (how late a timer fired) and the write
        transactions queued for the database's writer."""
        if lag_s > self.target_lag_s or writes_waiting > self.max_writes_waiting:
            self.value = max(self.floor, self.value * 3 // 4)
        else:
            self.value = min(self.ceiling, self.value + 1)

    async def follow(self, writes_waiting: Callable[[], int]) -> None:
        """Sample the running loop's lag and the writer's queue every `SAMPLE_S`, forever."""
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(SAMPLE_S)
            self.observe(loop.time() - started - SAMPLE_S, writes_waiting())
