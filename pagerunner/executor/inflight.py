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
(`waiting_in_place`): it uses no CPU then, so it does not count, and another call
may start. When the wait ends it takes a place back, in turn if none is free.
Without this, queries paced at a page a second that wait inside their page steps
would hold every place and cap the executor at `ceiling` pages a second.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from contextvars import ContextVar

__all__ = ["InflightLimit", "waiting_in_place"]

SAMPLE_S = 0.05


class InflightLimit:
    def __init__(
        self,
        ceiling: int,
        *,
        floor: int = 8,
        target_lag_s: float = 0.025,
        max_writes_waiting: int = 4,
    ) -> None:
        self.ceiling = ceiling
        self.floor = min(floor, ceiling)
        self.target_lag_s = target_lag_s
        self.max_writes_waiting = max_writes_waiting
        self.value = ceiling
        self.lent = 0  # calls in flight that wait in place: not counted against `value`
        self.on_lend: Callable[[], None] = lambda: None
        # The calls in flight that count (the executor's); the calls whose wait ended and
        # that wait, in turn, for a place to take back.
        self.counted: Callable[[], int] = lambda: 0
        self._returning: collections.deque[asyncio.Future[None]] = collections.deque()

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
                self.lent -= 1
                with contextlib.suppress(ValueError):
                    self._returning.remove(turn)
            raise

    def place_freed(self) -> None:
        """A call ended: its place goes to the calls waiting to take one back, in turn."""
        while self._returning and self.counted() < self.value:
            turn = self._returning.popleft()
            if not turn.done():
                self.lent -= 1
                turn.set_result(None)

    @contextlib.contextmanager
    def lending(self) -> Iterator[None]:
        """Calls made inside may lend their place in this limit (see `waiting_in_place`)."""
        token = _LENDER.set(self)
        try:
            yield
        finally:
            _LENDER.reset(token)

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


_LENDER: ContextVar[InflightLimit | None] = ContextVar("pagerunner_inflight_lender", default=None)


@contextlib.asynccontextmanager
async def waiting_in_place() -> AsyncIterator[None]:
    """Around a wait that uses no CPU inside a call from the embedded executor (an app
    in its process): the call does not count as in flight meanwhile. Elsewhere (an
    app in another process, Inngest) it changes nothing."""
    limit = _LENDER.get()
    if limit is None:
        yield
        return
    limit.lent += 1
    limit.place_freed()  # to a call that waits to take one back, else to the queue
    limit.on_lend()
    try:
        yield
    except BaseException:  # cancelled, or failed: the call ends, it does not queue again
        limit.lent -= 1
        raise
    await limit.take_back()
