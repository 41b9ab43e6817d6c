"""CompletionSweep's plan, cycle by cycle, fed by hand (no HTTP)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow_provider_kizen.models.scheduled_activity import ScheduledActivity
from airflow_provider_kizen.triggers.completion_sweep import (
    DIRECT_READ_EVERY_CYCLES,
    DIRECT_READS_PER_CYCLE,
    EXTRA_PAGES,
    PAGE_SIZE,
    CompletionSweep,
    DirectReads,
    Listing,
)

CREATED = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def activity(activity_id: str, *, due_in_days: float = 2, completed: bool = False) -> ScheduledActivity:
    return ScheduledActivity(
        id=activity_id,
        created=CREATED,
        due_datetime=CREATED + timedelta(days=due_in_days),
        completed_at=CREATED + timedelta(hours=1) if completed else None,
        logged_activity_id=f"logged-{activity_id}" if completed else None,
        note="Call Ada",
    )


def test_the_first_cycle_lists_newest_first_and_stops_once_every_id_showed_up() -> None:
    sweep = CompletionSweep(["a", "b"])
    cycle = sweep.cycle()

    listing = next(cycle)
    assert isinstance(listing, Listing)
    assert listing.filters == {"ordering": "-created", "page_size": PAGE_SIZE}
    assert listing.max_pages == 1 + EXTRA_PAGES
    more_pages = sweep.see_page(listing, [activity("x"), activity("a"), activity("b", completed=True)], 1)

    assert not more_pages
    assert list(cycle) == [], "every id is accounted for: nothing else to ask"
    assert sweep.pending_ids() == ["a"]
    assert sweep.completed_records() == [
        {"id": "b", "completed_at": "2026-12-01T10:00:00Z", "logged_activity_id": "logged-b"}
    ]


def test_later_cycles_list_the_pending_within_a_window_covering_due_and_created_times() -> None:
    sweep = CompletionSweep(["a", "b"])
    first = sweep.cycle()
    sweep.see_page(next(first), [activity("a", due_in_days=2), activity("b", due_in_days=5)], 1)
    list(first)

    pending = next(sweep.cycle())

    assert isinstance(pending, Listing)
    assert pending.filters == {
        "completed": False,
        "from_date": CREATED - timedelta(days=1),
        "to_date": CREATED + timedelta(days=6),
        "page_size": PAGE_SIZE,
    }


def test_completed_ones_are_listed_only_when_a_pending_id_went_missing() -> None:
    sweep = CompletionSweep(["a", "b"])
    first = sweep.cycle()
    sweep.see_page(next(first), [activity("a"), activity("b")], 1)
    list(first)

    quiet = sweep.cycle()
    sweep.see_page(next(quiet), [activity("a"), activity("b")], 1)
    assert list(quiet) == []

    busy = sweep.cycle()
    sweep.see_page(next(busy), [activity("a")], 1)
    completed = next(busy)
    assert isinstance(completed, Listing)
    assert completed.filters["completed"] is True
    sweep.see_page(completed, [activity("b", completed=True)], 1)
    assert list(busy) == []
    assert sweep.pending_ids() == ["a"]


def test_a_completion_counts_from_the_page_even_where_the_filter_said_pending() -> None:
    sweep = CompletionSweep(["a"])
    first = sweep.cycle()
    sweep.see_page(next(first), [activity("a")], 1)
    list(first)

    cycle = sweep.cycle()
    sweep.see_page(next(cycle), [activity("a", completed=True)], 1)  # a `completed=false` page

    assert sweep.done
    assert list(cycle) == []


def test_ids_no_page_shows_are_read_directly_a_few_per_cycle_and_each_not_every_cycle() -> None:
    ids = [f"id-{number}" for number in range(DIRECT_READS_PER_CYCLE + 5)]
    sweep = CompletionSweep(ids)
    read_at: dict[str, list[int]] = {}
    for _ in range(DIRECT_READ_EVERY_CYCLES + 2):
        for request in sweep.cycle():
            if isinstance(request, Listing):
                sweep.see_page(request, [], 1)  # lists never show them
                continue
            assert isinstance(request, DirectReads)
            assert len(request.activity_ids) <= DIRECT_READS_PER_CYCLE
            for activity_id in request.activity_ids:
                read_at.setdefault(activity_id, []).append(sweep.cycles)
                sweep.see(activity(activity_id))

    assert set(read_at) == set(ids)
    for cycles in read_at.values():
        assert len(cycles) == 2, "each is read again once its rhythm comes round"
        assert cycles[1] - cycles[0] >= DIRECT_READ_EVERY_CYCLES


def test_whole_activities_are_kept_only_when_asked() -> None:
    sweep = CompletionSweep(["a"], keep_activities=True)
    cycle = sweep.cycle()
    sweep.see_page(next(cycle), [activity("a", completed=True)], 1)

    (kept,) = sweep.completed_activities(sweep.completed_ids())
    assert kept["note"] == "Call Ada"
    assert kept["logged_activity_id"] == "logged-a"


def test_statuses_from_a_page_count_as_the_activities_they_come_from() -> None:
    page = [activity("a", due_in_days=3), activity("b", completed=True), activity("x")]
    from_models, from_statuses = CompletionSweep(["a", "b"]), CompletionSweep(["a", "b"])
    for sweep, seen in ((from_models, page), (from_statuses, [whole.status() for whole in page])):
        first = sweep.cycle()
        sweep.see_page(next(first), seen, 1)
        assert list(first) == []

    assert from_statuses.pending_ids() == from_models.pending_ids() == ["a"]
    assert from_statuses.completed_records() == from_models.completed_records()
    assert next(from_statuses.cycle()) == next(from_models.cycle()), "the same window, from the same times"
