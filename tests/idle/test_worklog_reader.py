"""The worklog reader against the emulator's `workLogs/all`, with each [U] behaviour flipped."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from syncd.emulators.timetracker import EmulatedUser, TimetrackerEmulator
from syncd.emulators.timetracker_worklogs import WorklogContract
from syncd.errors import TargetAuthFailed
from syncd.targets.timetracker import TimetrackerTarget
from syncd.targets.timetracker_activity import WorklogReader

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
NAIVE = NOW.replace(tzinfo=None)
PEOPLE = [EmulatedUser(f"p{i}@example.com", "Team") for i in range(4)]


def fill(emulator: TimetrackerEmulator) -> dict[str, str]:
    """p0: 600 worklogs, the newest 1 day ago; p1: one 30 days ago, created 2 days ago (back-filled);
    p2: one dated next week, created 40 days ago; p3: nothing. Returns email → 7pace user id."""
    for i in range(600):
        emulator.log_work("p0@example.com", NAIVE - timedelta(days=1, minutes=i))
    emulator.log_work("p1@example.com", NAIVE - timedelta(days=30), NAIVE - timedelta(days=2))
    emulator.log_work("p2@example.com", NAIVE + timedelta(days=7), NAIVE - timedelta(days=40))
    ids = {}
    for user in emulator.worklogs.page({"$count": "500"}):
        ids[user["user"]["email"]] = user["user"]["id"].casefold()
    return ids


def reader(target: TimetrackerTarget) -> WorklogReader:
    return WorklogReader(target.http, target.settings.api_root, target.settings.api_version)


@pytest.mark.parametrize(
    "contract",
    [
        WorklogContract(),
        WorklogContract(bounds="inclusive"),
        WorklogContract(order="newest-first"),
        WorklogContract(page_cap=100),
        WorklogContract(created_filter="ignored"),
    ],
    ids=["documented", "inclusive", "newest-first", "page-cap-100", "created-filter-ignored"],
)
def test_the_latest_activity_per_person_whatever_the_server_does(
    emulator_factory: Callable[..., TimetrackerEmulator],
    target_factory: Callable[..., TimetrackerTarget],
    contract: WorklogContract,
) -> None:
    emulator = emulator_factory(PEOPLE, quota_per_second=None, quota_per_minute=None)
    ids = fill(emulator)
    emulator.worklogs.set_contract(contract)
    target = target_factory(emulator.base_url)
    window = reader(target).scan(NOW - timedelta(days=61), by="timestamp", now=NOW)
    assert window.last_by_user == {
        ids["p0@example.com"]: NOW - timedelta(days=1),
        ids["p1@example.com"]: NOW - timedelta(days=2),  # created beats the older time worked
        ids["p2@example.com"]: NOW,  # dated in the future: counts as today, not later
    }
    pages = -(-602 // min(500, contract.page_cap)) + 1  # full pages, then the empty page that ends the scan
    assert window.requests == pages == emulator.count("GET worklogs/all")
    recent = reader(target).scan(NOW - timedelta(days=3), by="created", now=NOW)
    if contract.created_filter == "honoured":
        assert set(recent.last_by_user) == {ids["p0@example.com"], ids["p1@example.com"]}
    else:  # the bound is ignored: more rows, same answer for everyone seen
        assert recent.rows == 602


def test_a_refused_read_raises(
    emulator_factory: Callable[..., TimetrackerEmulator], target_factory: Callable[..., TimetrackerTarget]
) -> None:
    emulator = emulator_factory(PEOPLE, quota_per_second=None, quota_per_minute=None)
    emulator.worklogs.set_contract(WorklogContract(fail="forbidden"))
    with pytest.raises(TargetAuthFailed, match="HTTP 403"):
        reader(target_factory(emulator.base_url)).scan(NOW, by="created", now=NOW)
