"""The domain without a database: transitions, state changes, ids, JSON."""

from __future__ import annotations

import ast
import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pagerunner.queries import model
from pagerunner.queries.model import (
    TRANSITIONS,
    InvalidTransition,
    PageOutOfOrder,
    Query,
    QueryNotRunning,
    QueryStatus,
    check_transition,
    new_id,
)
from pagerunner.sources.base import Checkpoint

S = QueryStatus
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

LEGAL = {
    (S.PENDING, S.RUNNING),
    (S.PENDING, S.PAUSED),
    (S.PENDING, S.CANCELLED),
    (S.RUNNING, S.COMPLETED),
    (S.RUNNING, S.FAILED),
    (S.RUNNING, S.PAUSED),
    (S.RUNNING, S.CANCELLED),
    (S.PAUSED, S.PENDING),
    (S.PAUSED, S.CANCELLED),
    (S.FAILED, S.PENDING),
    (S.CANCELLED, S.PENDING),
}


def test_the_table_is_exactly_the_legal_transitions() -> None:
    assert {(a, b) for a, targets in TRANSITIONS.items() for b in targets} == LEGAL
    assert set(TRANSITIONS) == set(S)


@pytest.mark.parametrize(("current", "target"), sorted(LEGAL))
def test_legal_transitions_pass(current: QueryStatus, target: QueryStatus) -> None:
    check_transition(current, target)


ILLEGAL = sorted(set(itertools.product(S, S)) - LEGAL)


@pytest.mark.parametrize(("current", "target"), ILLEGAL)
def test_every_other_transition_is_refused(current: QueryStatus, target: QueryStatus) -> None:
    with pytest.raises(InvalidTransition) as info:
        check_transition(current, target)
    assert info.value.current is current and info.value.target is target


@pytest.mark.parametrize(
    ("current", "target", "message"),
    [
        (S.COMPLETED, S.PENDING, "cannot resume a completed query"),
        (S.RUNNING, S.PENDING, "cannot resume a running query"),
        (S.PENDING, S.COMPLETED, "cannot complete a pending query"),
        (S.FAILED, S.CANCELLED, "cannot cancel a failed query"),
        (S.CANCELLED, S.RUNNING, "cannot start a cancelled query"),
        (S.PAUSED, S.FAILED, "cannot fail a paused query"),
        (S.COMPLETED, S.PAUSED, "cannot pause a completed query"),
        (S.RUNNING, S.RUNNING, "cannot start a running query"),
    ],
)
def test_refusals_say_what_was_attempted(
    current: QueryStatus, target: QueryStatus, message: str
) -> None:
    with pytest.raises(InvalidTransition, match=f"^{message}$"):
        check_transition(current, target)


def _query(status: QueryStatus = S.PENDING, **changes: object) -> Query:
    return replace(Query.new("demo", {"q": "x"}, now=NOW), status=status, **changes)


def test_a_new_query_is_pending_at_page_one() -> None:
    query = Query.new("demo", {"q": "x"}, max_pages=3, now=NOW)
    assert query.status is S.PENDING and query.runs == 1
    assert query.checkpoint == Checkpoint(page=1) and query.has_more
    assert query.created_at == query.updated_at == NOW
    with pytest.raises(ValueError):
        Query.new("demo", {}, max_pages=0)


def test_start_clears_the_last_stop_and_is_idempotent() -> None:
    later = NOW + timedelta(seconds=5)
    query = _query(error_code="x", error_message="y", pause_reason="r", resume_hint="h")
    started = query.started(later, "run-1")
    assert started.status is S.RUNNING and started.run_id == "run-1"
    assert started.started_at == later and started.updated_at == later
    assert (started.error_code, started.error_message) == (None, None)
    assert (started.pause_reason, started.resume_hint) == (None, None)
    assert started.started(later + timedelta(seconds=1), "run-2") is started


def test_a_running_query_changes_hands_only_from_the_run_that_owns_it() -> None:
    owned = _query(S.RUNNING, run_id="run-1")
    later = NOW + timedelta(seconds=5)
    taken = owned.continued("run-2", "run-1", later)
    assert taken.status is S.RUNNING and taken.run_id == "run-2" and taken.updated_at == later
    assert taken.continued("run-2", "run-1", later) is taken  # the step re-ran
    assert owned.continued("run-3", "run-0", later) is owned  # a stray run: not its own
    for status in (S.PENDING, S.PAUSED, S.COMPLETED, S.FAILED, S.CANCELLED):
        query = _query(status, run_id="run-1")
        assert query.continued("run-2", "run-1", later) is query


def test_a_pause_requested_during_a_hand_over_pauses_the_query() -> None:
    asked = _query(S.RUNNING, run_id="run-1", pause_requested=True)
    paused = asked.continued("run-2", "run-1", NOW)
    assert paused.status is S.PAUSED and paused.run_id == "run-1"
    assert paused.pause_reason == "paused by request" and not paused.pause_requested


def test_terminal_changes_set_finished_at() -> None:
    running = _query(S.RUNNING, pause_requested=True)
    assert running.completed(NOW).finished_at == NOW
    failed = running.failed("quota_exhausted", "no more credits", NOW)
    assert (failed.status, failed.error_code, failed.error_message) == (
        S.FAILED,
        "quota_exhausted",
        "no more credits",
    )
    assert failed.finished_at == NOW and not failed.pause_requested
    assert running.cancelled(NOW).finished_at == NOW
    paused = running.paused("rate limited", "retry in 1 h", NOW)
    assert paused.finished_at is None and not paused.pause_requested
    assert (paused.pause_reason, paused.resume_hint) == ("rate limited", "retry in 1 h")


def test_asking_to_pause() -> None:
    running = _query(S.RUNNING).asked_to_pause(NOW)
    assert running.status is S.RUNNING and running.pause_requested
    pending = _query(S.PENDING).asked_to_pause(NOW)
    assert pending.status is S.PAUSED and pending.pause_reason == "requested"
    for status in (S.PAUSED, S.COMPLETED, S.FAILED, S.CANCELLED):
        with pytest.raises(InvalidTransition, match=f"cannot pause a {status} query"):
            _query(status).asked_to_pause(NOW)


def test_resume_keeps_progress_and_counts_the_run() -> None:
    failed = _query(
        S.FAILED,
        pages_fetched=4,
        records_fetched=400,
        records_inserted=300,
        checkpoint=Checkpoint(page=5, cursor="c5"),
        error_code="e",
        error_message="m",
        finished_at=NOW,
    )
    resumed = failed.resumed(NOW + timedelta(seconds=1))
    assert resumed.status is S.PENDING and resumed.runs == 2
    assert (resumed.pages_fetched, resumed.records_fetched, resumed.records_inserted) == (
        4,
        400,
        300,
    )
    assert resumed.checkpoint == Checkpoint(page=5, cursor="c5")
    assert (resumed.error_code, resumed.error_message, resumed.finished_at) == (None, None, None)
    with pytest.raises(InvalidTransition, match="cannot resume a completed query"):
        _query(S.COMPLETED).resumed(NOW)


def test_after_page_moves_the_checkpoint_and_counts() -> None:
    running = _query(S.RUNNING, max_pages=2)
    one = running.after_page(
        1, records=10, inserted=7, next_checkpoint=Checkpoint(2, "c2"), now=NOW
    )
    assert (one.pages_fetched, one.records_fetched, one.records_inserted) == (1, 10, 7)
    assert one.checkpoint == Checkpoint(2, "c2") and one.has_more
    two = one.after_page(2, records=5, inserted=5, next_checkpoint=Checkpoint(3, "c3"), now=NOW)
    assert two.exhausted and two.checkpoint == Checkpoint(3, "c3")  # max_pages reached
    last = _query(S.RUNNING).after_page(1, records=0, inserted=0, next_checkpoint=None, now=NOW)
    assert last.exhausted and last.checkpoint == Checkpoint(page=2)


@pytest.mark.parametrize("cap", [1, 2, 3, 7])
@pytest.mark.parametrize("pages", [1, 3, 5])
def test_a_query_stops_at_its_cap_and_says_so_only_when_the_source_had_more(
    cap: int, pages: int
) -> None:
    """A source with `pages` pages; the note is there only when the cap cut it short."""
    query = _query(S.RUNNING, max_pages=cap)
    while query.has_more:
        page = query.checkpoint.page
        following = Checkpoint(page + 1, f"c{page + 1}") if page < pages else None
        query = query.after_page(page, records=1, inserted=1, next_checkpoint=following, now=NOW)
    assert query.pages_fetched == min(cap, pages)
    if cap < pages:
        assert query.note == f"stopped at the page cap of {cap}; the source had more pages"
    else:
        assert query.note is None
    assert query.to_json()["note"] == query.note


def test_starting_gives_a_query_without_a_cap_one_and_keeps_a_cap_it_has() -> None:
    legacy = _query(S.PENDING).started(NOW, "run-1", page_cap=50)
    assert legacy.max_pages == 50
    own = _query(S.PENDING, max_pages=3).started(NOW, "run-1", page_cap=50)
    assert own.max_pages == 3


def test_pages_must_come_in_order_to_a_running_query() -> None:
    with pytest.raises(QueryNotRunning, match="cannot store a page of a paused query"):
        _query(S.PAUSED).check_next_page(1, None)
    with pytest.raises(PageOutOfOrder, match="page 3 is not the next page"):
        _query(S.RUNNING).check_next_page(3, None)
    with pytest.raises(PageOutOfOrder, match="must be followed by page 2, not 1"):
        _query(S.RUNNING).check_next_page(1, Checkpoint(page=1, cursor="c"))
    with pytest.raises(PageOutOfOrder, match="no page left"):
        _query(S.RUNNING, exhausted=True, checkpoint=Checkpoint(2)).check_next_page(2, None)


def test_ids_are_ulids_that_sort_by_creation() -> None:
    ids = [new_id() for _ in range(2000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(len(i) == 26 and i[0] in "01234567" for i in ids)
    assert set("".join(ids)) <= set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")


def test_to_json_is_plain_data() -> None:
    data = _query(S.RUNNING, started_at=NOW).to_json()
    assert data["status"] == "running" and data["checkpoint"] == {"page": 1, "cursor": None}
    assert data["created_at"] == "2026-01-02T03:04:05+00:00" and data["finished_at"] is None
    assert data["has_more"] is True and data["runs"] == 1


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            found.add("." * node.level + (node.module or ""))
    return found


def test_queries_import_neither_the_executor_nor_the_web() -> None:
    package = Path(model.__file__).parent
    for path in package.rglob("*.py"):
        for name in _imports(path):
            top = name.lstrip(".").split(".")[0]
            assert top not in {"fastapi", "inngest", "starlette"}, f"{path.name}: {name}"
            assert "executor" not in name, f"{path.name}: {name}"
