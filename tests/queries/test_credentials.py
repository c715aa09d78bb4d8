"""The shared limiter per credential: its window rule, and claims against a real database."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from pagerunner.queries import credentials as limiter
from pagerunner.queries.credentials import Claim, CredentialLimiter, earliest_send
from pagerunner.queries.migrate import migrate
from pagerunner.queries.schema import credentials
from pagerunner.queries.store import QueryStore
from pagerunner.sources.base import Limits

CREDENTIAL = "env:TEST_KEY"


def most_in_window(times: Sequence[float], seconds: float) -> int:
    """The most of `times` (ascending) in any half-open window `[t, t + seconds)`."""
    first, best = 0, 0
    for last, t in enumerate(times):
        while times[first] <= t - seconds:
            first += 1
        best = max(best, last - first + 1)
    return best


def send_all(wanted: Sequence[float], windows: Sequence[tuple[int, float]]) -> list[float]:
    """Each request goes at its wanted time or as soon as the limiter lets it (log capped)."""
    rules = limiter._rules(windows)
    log: list[float] = []
    sent = []
    for want in sorted(wanted):
        at = max(want, earliest_send(log, rules), sent[-1] if sent else 0.0)
        sent.append(at)
        log = [*log, at][-limiter.SEND_LOG :]
    return sent


windows_strategy = st.lists(
    st.tuples(st.integers(1, 150), st.floats(0.05, 10.0)), min_size=1, max_size=3
)


@settings(max_examples=200, deadline=None)
@given(windows=windows_strategy, wanted=st.lists(st.floats(0, 30), min_size=1, max_size=300))
def test_no_window_ever_holds_more_than_its_count(
    windows: list[tuple[int, float]], wanted: list[float]
) -> None:
    sent = send_all(wanted, windows)
    for count, seconds in windows:
        # Even a window stretched by the send margin (the jitter allowed) stays within it
        # (less a nanosecond of float rounding).
        assert most_in_window(sent, seconds + limiter.SEND_MARGIN_S - 1e-9) <= count


@settings(max_examples=100, deadline=None)
@given(
    count=st.integers(2, 20),
    late=st.lists(st.floats(0, 0.5), min_size=40, max_size=40),
)
def test_a_late_send_is_made_up_by_the_next_ones(count: int, late: list[float]) -> None:
    """Requests on their slots, some late: the window's rate is kept, not lost for good."""
    seconds = 1.0
    spacing = limiter._spacing([(count, seconds)])
    wanted = [i * spacing + delay for i, delay in enumerate(late)]
    sent = send_all(wanted, [(count, seconds)])
    # Lateness does not add up: the last request is at most the largest delay late.
    assert sent[-1] <= wanted[-1] - late[-1] + max(late) + 1e-9


def test_limits_become_windows() -> None:
    assert Limits(per_second=5).windows == ((5, 1.0),)
    assert Limits(per_second=2.5).windows == ((2, 0.8),)
    assert Limits(per_second=0.5).windows == ((1, 2.0),)
    assert Limits(per_minute=30, per_hour=1000).windows == ((30, 60.0), (1000, 3600.0))
    assert Limits().windows == ()


def test_a_long_window_is_checked_as_parts_that_fit_the_log() -> None:
    assert limiter._rules([(3600, 3600.0)]) == [(63, 3600.0 / 57)]
    assert limiter._rules([(5, 1.0)]) == [(5, 1.0)]


async def logged(store: QueryStore) -> list[float]:
    def read(conn: object) -> list[float]:
        query = select(credentials.c.sent_log).where(credentials.c.credential_id == CREDENTIAL)
        return list(json.loads(conn.execute(query).scalar_one()))  # type: ignore[attr-defined]

    return await store.database.read(read)


async def test_concurrent_claims_in_two_processes_share_one_window(db_url: str) -> None:
    await migrate(db_url)
    stores = [QueryStore(db_url), QueryStore(db_url)]  # two pools, as two processes have
    try:
        limiters = [CredentialLimiter(s.database) for s in stores]
        windows = [(3, 0.3)]
        claims = await asyncio.gather(
            *(limiters[i % 2].claim(CREDENTIAL, windows) for i in range(12))
        )
        assert all(c.go for c in claims)
        sent = await logged(stores[0])
        assert sorted(sent) == sorted(c.at for c in claims)
        assert most_in_window(sorted(sent), 0.3 + limiter.SEND_MARGIN_S) <= 3
        usage = await limiters[0].usage()
        assert usage[0].requests_today == 12
    finally:
        for s in stores:
            await s.close()


async def test_a_request_that_left_late_is_logged_when_it_left(store: QueryStore) -> None:
    lim = CredentialLimiter(store.database)
    claim = await lim.claim(CREDENTIAL, [(2, 1.0)])
    await lim.sent(CREDENTIAL, claim, claim.at + 0.001)  # on time: nothing to change
    assert await logged(store) == [claim.at]
    await lim.sent(CREDENTIAL, claim, claim.at + 0.25)
    assert await logged(store) == [pytest.approx(claim.at + 0.25)]


async def test_a_late_request_of_a_source_without_windows_writes_nothing(
    store: QueryStore,
) -> None:
    lim = CredentialLimiter(store.database)
    claim = await lim.claim(CREDENTIAL, [])
    assert claim.go and not claim.windowed
    await lim.sent(CREDENTIAL, claim, claim.at + 0.25)  # no transaction for a correction
    assert await logged(store) == [claim.at]


async def test_a_crowded_credential_sends_page_steps_for_a_new_slot(store: QueryStore) -> None:
    lim = CredentialLimiter(store.database)
    windows = [(1, 1.0)]  # one request per second: the second in line would wait > 2 s
    first = await lim.claim(CREDENTIAL, windows)
    assert first.go
    claims = await asyncio.gather(*(lim.claim(CREDENTIAL, windows) for _ in range(4)))
    (went,) = [c for c in claims if c.go]  # the first in line, after a second
    assert went.at >= first.at + 1.0 + limiter.SEND_MARGIN_S
    assert [c for c in claims if not c.go] == [Claim(wait_s=0.0)] * 3


async def test_a_block_makes_every_claim_wait_durably(store: QueryStore) -> None:
    lim = CredentialLimiter(store.database)
    await lim.block(CREDENTIAL, until=time.time() + 30, reason="429")
    claim = await lim.claim(CREDENTIAL, [(5, 1.0)])
    assert not claim.go and 29 < claim.wait_s <= 30
    assert await lim.reserve(CREDENTIAL, [(5, 1.0)]) >= time.time() + 29
    await lim.unblock(CREDENTIAL)
    assert (await lim.claim(CREDENTIAL, [(5, 1.0)])).go
