"""Keeping each licensed person's last activity current at a handful of requests per run (issue 18).

The first read covers the look-back window (`[reclaim] idle_for` and a day, by the time worked), a week at a
time and at most `activity_budget` requests per run (a large organisation's first read spans runs; until it
is complete nobody counts as idle). Every later
read asks only for worklogs *created* since the last complete read, less `activity_overlap` (7pace's zone for
times is undocumented), and merges them into the state by max. A failed read changes nothing and says why:
the caller then treats everyone's activity as unknown (nobody idle). The same incremental read, run right
before a reclaim is written, is the fresh re-check.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from syncd.errors import SyncdError
from syncd.reclaim_settings import ReclaimSettings
from syncd.reclaim_state import ReclaimState
from syncd.targets.interface import Target
from syncd.targets.timetracker import TimetrackerTarget
from syncd.targets.timetracker_activity import WorklogReader

log = structlog.get_logger("syncd.activity")

SLICE = timedelta(days=7)  # a week of worklogs per step of the first read
_EDGE = timedelta(seconds=1)


@dataclass(frozen=True)
class ActivityRead:
    """The merged last activity per 7pace user id, or None with the reason it could not be read."""

    latest: dict[str, datetime] | None
    covered_from: datetime | None
    problem: str = ""
    first: bool = False
    fresh: dict[str, datetime] | None = None  # what this read itself saw (the re-check uses it)
    requests: int = 0
    rows: int = 0


def worklog_reader(target: Target) -> WorklogReader | None:
    if not isinstance(target, TimetrackerTarget):
        return None
    settings = target.settings
    return WorklogReader(target.http, settings.api_root, settings.api_version)


def refresh(target: Target, store: ReclaimState, settings: ReclaimSettings, now: datetime) -> ActivityRead:
    """Read what is new since the last complete read (the window, a week at a time, the first time) and
    remember it."""
    reader = worklog_reader(target)
    if reader is None:
        return ActivityRead(None, None, f"target {target.name} has no worklog reader")
    coverage = store.coverage()
    try:
        if coverage is None:
            return _backfill(reader, store, settings, now)
        scan = reader.scan(coverage.read_at - settings.activity_overlap, by="created", now=now)
    except SyncdError as error:
        log.warning("worklogs not read; nobody counts as idle this run", error=str(error))
        return ActivityRead(None, None, str(error))
    merged = store.record_read(scan.last_by_user, coverage.covered_from, now)
    log.info("worklogs read", requests=scan.requests, rows=scan.rows, people=len(scan.last_by_user))
    return ActivityRead(
        merged, coverage.covered_from, "", False, dict(scan.last_by_user), scan.requests, scan.rows
    )


def _backfill(
    reader: WorklogReader, store: ReclaimState, settings: ReclaimSettings, now: datetime
) -> ActivityRead:
    """The first read, newest week first, each week remembered as it is read, until the window is covered
    or `activity_budget` requests are spent (the next run continues). The newest slice has no upper bound
    (a worklog dated in the future is activity too); slices overlap by a second because 7pace's bounds are
    exclusive. Later runs first read what was created since the previous one, as a complete read would."""
    window_start = now - settings.lookback
    progress = store.backfill()
    seen: dict[str, datetime] = {}
    requests = rows = 0
    upper: datetime | None = None
    oldest = now
    if progress is not None:
        scan = reader.scan(progress.read_at - settings.activity_overlap, by="created", now=now)
        store.record_read(scan.last_by_user, progress.covered_from, now, partial=True)
        _merge(seen, scan.last_by_user)
        requests, rows = scan.requests, scan.rows
        upper = oldest = progress.covered_from
    budget = settings.activity_budget
    while oldest > window_start and (budget == 0 or requests < budget):
        start = window_start if budget == 0 else max(window_start, oldest - SLICE)
        scan = reader.scan(
            start - _EDGE, by="timestamp", now=now, until=upper + _EDGE if upper is not None else None
        )
        oldest = upper = start
        store.record_read(scan.last_by_user, oldest, now, partial=True)
        _merge(seen, scan.last_by_user)
        requests, rows = requests + scan.requests, rows + scan.rows
    log.info("worklogs read (first read)", requests=requests, rows=rows, read_back_to=oldest.isoformat())
    if oldest > window_start:
        days = (now - oldest).days
        return ActivityRead(
            None,
            None,
            f"first worklog read in progress: {days} of {settings.lookback.days} days read, "
            f"{requests} requests this run (reclaim.activity_budget = {budget}); continued by the next run",
            True,
            None,
            requests,
            rows,
        )
    merged = store.record_read({}, oldest, now)  # complete: from now on, incremental reads
    return ActivityRead(merged, oldest, "", True, seen, requests, rows)


def _merge(into: dict[str, datetime], more: dict[str, datetime]) -> None:
    for user, moment in more.items():
        if user not in into or moment > into[user]:
            into[user] = moment
